"""Hardened XML parsing and safe XML building, shared by the Intacct codec and its emulator.

Parsing: every body, request or response, goes through :func:`parse`. It uses an lxml parser
that never resolves entities, never touches the network and never loads a DTD, and it refuses
any document that carries a DOCTYPE or an entity at all. Intacct never sends one, so a body
that does is either broken or hostile, and refusing it before anything is expanded is the only
safe answer (billion laughs, external entities).

Building: text goes into elements through :func:`sub`, which formats the value and removes
the code points XML 1.0 forbids. lxml escapes ``<`` and ``&`` itself; no XML is ever built by
string formatting.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from lxml import etree

# XML 1.0 §2.2: C0 controls except tab/LF/CR, U+FFFE/U+FFFF, and surrogates. A Python str can
# only hold a surrogate code point when it is unpaired, so the whole range is "lone surrogates".
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Markup that only a DTD can bring; checked on the raw bytes so nothing is parsed first.
_DTD_MARKERS = (b"<!DOCTYPE", b"<!ENTITY")

DATE_FORMAT = "%m/%d/%Y"
DATETIME_FORMAT = "%m/%d/%Y %H:%M:%S"


class XMLRefused(ValueError):
    """A body that is not well-formed XML, or that we refuse to parse."""

    def __init__(self, reason: str, *, hostile: bool = False) -> None:
        super().__init__(reason)
        self.hostile = hostile


def strip_forbidden(text: str) -> str:
    """``text`` without the code points XML 1.0 forbids (they would fail the whole request)."""
    return _FORBIDDEN.sub("", text)


# lxml parser objects must not be shared between threads, so each thread gets its own.
_local = threading.local()


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_pis=True,
        )
        _local.parser = parser
    return parser


def parse(body: bytes) -> etree._Element:
    """The root element of ``body``; raises :class:`XMLRefused` for malformed or hostile XML."""
    if not isinstance(body, bytes):
        raise XMLRefused("XML body must be bytes")
    if any(marker in body for marker in _DTD_MARKERS):
        raise XMLRefused("document type declarations and entities are refused", hostile=True)
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise XMLRefused(f"not well-formed XML: {exc}") from None
    # The byte scan misses a DTD in a non-UTF-8 encoding; the parsed tree cannot hide one.
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XMLRefused("document type declarations are refused", hostile=True)
    if any(True for _ in root.iter(etree.Entity)):
        raise XMLRefused("entity references are refused", hostile=True)
    return root


def format_value(value: Any) -> str:
    """The wire text of a value: Intacct dates, plain decimals, ``true``/``false``."""
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation such as 1E+3
    if isinstance(value, datetime):  # before date: datetime is a date
        return value.strftime(DATETIME_FORMAT)
    if isinstance(value, date):
        return value.strftime(DATE_FORMAT)
    return strip_forbidden(str(value))


def sub(parent: etree._Element, tag: str, value: Any = None) -> etree._Element:
    """Append ``<tag>value</tag>`` to ``parent``; ``None`` gives an empty element."""
    child = etree.SubElement(parent, tag)
    if value is not None:
        child.text = format_value(value)
    return child


def sub_fields(parent: etree._Element, fields: Iterable[tuple[str, Any]]) -> None:
    """Append one element per (tag, value), skipping values that are ``None``."""
    for tag, value in fields:
        if value is not None:
            sub(parent, tag, value)


def to_bytes(element: etree._Element, *, declaration: bool = False) -> bytes:
    """UTF-8 bytes of ``element``, with the XML declaration when asked."""
    return etree.tostring(element, encoding="UTF-8", xml_declaration=declaration)


def text(element: etree._Element | None, path: str, default: str = "") -> str:
    """The stripped text at ``path`` under ``element``, or ``default`` when absent."""
    if element is None:
        return default
    found = element.find(path)
    if found is None or found.text is None:
        return default
    return found.text.strip()


def to_record(element: etree._Element) -> dict[str, Any]:
    """A record element as a dict: leaf fields become strings, nested elements dicts, and an
    element whose children are rows of one lowercase tag (``<ARINVOICEITEMS><arinvoiceitem>``)
    becomes a list of dicts. Intacct writes rows in lowercase and fields in uppercase."""
    record: dict[str, Any] = {}
    for child in element:
        if not isinstance(child.tag, str):  # comments
            continue
        record[child.tag] = _value(child)
    return record


def _value(element: etree._Element) -> Any:
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        return (element.text or "").strip()
    first = children[0].tag
    if first.islower() and all(c.tag == first for c in children):
        return [to_record(c) for c in children]
    return to_record(element)


def parse_date(value: str) -> date:
    """An Intacct ``MM/DD/YYYY`` date."""
    return datetime.strptime(value.strip(), DATE_FORMAT).date()


def parse_datetime(value: str) -> datetime:
    """An Intacct ``MM/DD/YYYY HH:MM:SS`` timestamp (a bare date means midnight)."""
    value = value.strip()
    try:
        return datetime.strptime(value, DATETIME_FORMAT)
    except ValueError:
        return datetime.strptime(value, DATE_FORMAT)
