"""The store interface for artifacts: models fitted by a background job (the "for you" collaborative model) that
every web process loads. Each save replaces the previous one under its name and takes the next version number, so
a process can tell cheaply whether what it holds is current."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    version: int
    meta: dict[str, Any]
    data: bytes
    created_at: datetime


class ArtifactStore(abc.ABC):
    @abc.abstractmethod
    def save_artifact(self, name: str, meta: dict[str, Any], data: bytes) -> int:
        """Replace the artifact called ``name`` (whole, in one transaction); return its new version (1, 2, ...)."""

    @abc.abstractmethod
    def artifact_version(self, name: str) -> int | None:
        """The current version of ``name`` without reading its data; None when there is none."""

    @abc.abstractmethod
    def load_artifact(self, name: str) -> Artifact | None:
        """The artifact called ``name``, or None."""
