"""E-mail digests: subscriptions with double opt-in, composing editions, and delivery through an outbox."""
