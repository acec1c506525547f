"""Parsing untrusted XML: no DTDs, no entities, no network, bounded size."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from paperfeed.errors import IngestError
from paperfeed.ingest.normalize import optional_text

MAX_XML_BYTES = 256 * 1024 * 1024
MAX_XML_DEPTH = 64  # arXiv's Atom and OAI-PMH documents nest about 6 deep


class _TooDeep(Exception):
    pass


class _DepthLimited(ET.TreeBuilder):
    """A tree builder that stops at MAX_XML_DEPTH, so deep nesting cannot make a huge tree from a small file."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        self.depth += 1
        if self.depth > MAX_XML_DEPTH:
            raise _TooDeep
        return super().start(tag, attrs)

    def end(self, tag: str) -> ET.Element:
        self.depth -= 1
        return super().end(tag)


def parse_xml(data: bytes, what: str) -> ET.Element:
    """Parse one XML document or raise IngestError saying what is wrong with it.

    arXiv's Atom and OAI-PMH responses never carry a DOCTYPE, so any DTD is refused outright: that shuts out
    external entities (file or network reads) and entity-expansion bombs alike.
    """
    if len(data) > MAX_XML_BYTES:
        raise IngestError(f"{what}: XML document of {len(data)} bytes is larger than {MAX_XML_BYTES}")
    parser = SafeET.DefusedXMLParser(
        target=_DepthLimited(), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(data)
        return parser.close()  # type: ignore[no-any-return]
    except _TooDeep:
        raise IngestError(f"{what}: XML nests deeper than {MAX_XML_DEPTH} elements") from None
    except DefusedXmlException as exc:
        raise IngestError(f"{what}: refused hostile XML (DTD or entity declarations): {exc}") from exc
    except ET.ParseError as exc:
        line, column = exc.position
        raise IngestError(f"{what}: malformed XML at line {line}, column {column}: {exc}") from exc


def child_text(node: ET.Element, tag: str) -> str | None:
    """The whitespace-normalised text of ``node``'s first ``tag`` child, None when absent or empty."""
    found = node.find(tag)
    return optional_text(found.text) if found is not None else None
