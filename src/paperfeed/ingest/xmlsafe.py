"""Parsing untrusted XML: no DTDs, no entities, no network, bounded size."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from paperfeed.errors import IngestError
from paperfeed.ingest.normalize import optional_text

MAX_XML_BYTES = 256 * 1024 * 1024


def parse_xml(data: bytes, what: str) -> ET.Element:
    """Parse one XML document or raise IngestError saying what is wrong with it.

    arXiv's Atom and OAI-PMH responses never carry a DOCTYPE, so any DTD is refused outright: that shuts out
    external entities (file or network reads) and entity-expansion bombs alike.
    """
    if len(data) > MAX_XML_BYTES:
        raise IngestError(f"{what}: XML document of {len(data)} bytes is larger than {MAX_XML_BYTES}")
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)  # type: ignore[no-any-return]
    except DefusedXmlException as exc:
        raise IngestError(f"{what}: refused hostile XML (DTD or entity declarations): {exc}") from exc
    except ET.ParseError as exc:
        line, column = exc.position
        raise IngestError(f"{what}: malformed XML at line {line}, column {column}: {exc}") from exc


def child_text(node: ET.Element, tag: str) -> str | None:
    """The whitespace-normalised text of ``node``'s first ``tag`` child, None when absent or empty."""
    found = node.find(tag)
    return optional_text(found.text) if found is not None else None
