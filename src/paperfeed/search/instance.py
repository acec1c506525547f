"""Which database an on-disk index belongs to."""

from __future__ import annotations

import uuid

from paperfeed.store import Store


def instance_id(store: Store) -> str:
    """The database's identity (made on first use), saved with each index so that an index folder is never
    used with another database's papers."""
    found = store.get_state("search:instance")
    if found is None:
        found = {"id": uuid.uuid4().hex}
        store.set_state("search:instance", found)
    return str(found["id"])
