"""Alerts: new papers matched against every reader's follows, sent to their webhook (through the outbox, as mail
is) and to the "followed" section of their digest."""
