"""The RSX codec: SPS files (XML or JSON, one or many documents) <-> pydantic models.

    parse(payload, filename=)  -> [(doc_type, model), ...]    raises BadDocument only
    encode_xml(doc_type, docs) -> <Orders xmlns=RSX><Order>…</Order>…</Orders>
    encode_json(doc_type, doc) -> one singular document, numbers as JSON numbers

Both forms meet in the nested-dict shape of RSX JSON, which the models validate. Every way a
file can be wrong (too big, not UTF-8, malformed, hostile, the wrong shape, a missing field)
becomes one :class:`BadDocument` with a one-line reason, because the caller quarantines the
file and shows that reason to an operator; no other exception type may escape :func:`parse`.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time
from decimal import Decimal
from json.encoder import encode_basestring as _quote  # C-accelerated, keeps non-ASCII as is
from typing import Any

from lxml import etree
from pydantic import ValidationError

from ..errors import BadDocument
from . import _rsx_xml as rx
from .models import DOC_TYPES, Rsx

DocPair = tuple[str, Rsx]
RSX_NS = rx.RSX_NS

_BY_ROOT = {root: doc_type for doc_type, (_, root, _) in DOC_TYPES.items()}
_BY_SINGULAR = {single: doc_type for doc_type, (_, _, single) in DOC_TYPES.items()}
_BY_PREFIX = {"PO": "order", "PR": "orderack", "IN": "invoice", "SH": "shipment"}
_NUMBER_PATH = {
    "order": ("OrderHeader", "PurchaseOrderNumber"),
    "orderack": ("OrderHeader", "PurchaseOrderNumber"),
    "invoice": ("InvoiceHeader", "InvoiceNumber"),
    "shipment": ("ShipmentHeader", "ShipmentIdentification"),
}
_BOM = b"\xef\xbb\xbf"


def _bad(reason: str) -> BadDocument:
    return BadDocument(" ".join(reason.split())[:400], system="sps", operation="parse")


# --- parse ---------------------------------------------------------------------------------


def parse(payload: bytes, *, filename: str | None = None, max_bytes: int = 5_000_000) -> list[DocPair]:
    """Every RSX document in ``payload`` as ``(doc_type, model)``, in file order.

    XML or JSON is told by the first non-blank byte. ``filename`` breaks ties the content
    cannot (a JSON OrderHeader without acknowledgement fields, a headerless document).
    Raises :class:`BadDocument` with a one-line reason for any problem, and nothing else.
    """
    try:
        return _parse(payload, filename, max_bytes)
    except BadDocument:
        raise
    except (rx.XmlProblem, ValueError) as exc:
        raise _bad(str(exc)) from None
    except RecursionError:
        raise _bad(f"nesting deeper than {rx.MAX_DEPTH} levels") from None
    except Exception as exc:  # the contract is BadDocument only; say what broke, in one line
        raise _bad(f"unreadable document ({type(exc).__name__}: {exc})") from None


def _parse(payload: bytes, filename: str | None, max_bytes: int) -> list[DocPair]:
    if not isinstance(payload, (bytes, bytearray)):
        raise _bad(f"expected bytes, got {type(payload).__name__}")
    if len(payload) > max_bytes:
        raise _bad(f"file is {len(payload):,} bytes, over the {max_bytes:,} byte limit")
    body = bytes(payload).removeprefix(_BOM)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(f"not valid UTF-8 (byte {exc.start})") from None
    first = body.lstrip()[:1]
    if not first:
        raise _bad("empty file")
    if first == b"<":
        return _parse_xml(body.lstrip())  # a stray newline before <?xml is common and harmless
    if first in (b"{", b"["):
        return _parse_json(text, filename)
    raise _bad(f"neither XML nor JSON (starts with {first!r})")


def _parse_xml(body: bytes) -> list[DocPair]:
    root = rx.parse_tree(body)
    if rx.namespace(root) not in (rx.RSX_NS, ""):
        raise _bad(f"root element is in namespace {rx.namespace(root)!r}, not the RSX namespace")
    name = rx.localname(root)
    if name in _BY_SINGULAR:
        return [_validate(_BY_SINGULAR[name], _xml_dict(_BY_SINGULAR[name], root), 1)]
    if name not in _BY_ROOT:
        raise _bad(f"unknown root element {name!r} (expected one of {', '.join(sorted(_BY_ROOT))})")
    doc_type = _BY_ROOT[name]
    single = DOC_TYPES[doc_type][2]
    docs = rx.children(root)
    if not docs:
        raise _bad(f"{name} holds no {single} document")
    stray = [rx.localname(d) for d in docs if rx.localname(d) != single]
    if stray:
        raise _bad(f"unexpected element {stray[0]!r} in {name} (expected {single})")
    return [_validate(doc_type, _xml_dict(doc_type, d), i) for i, d in enumerate(docs, 1)]


def _xml_dict(doc_type: str, element: etree._Element) -> dict[str, Any]:
    return rx.element_to_dict(element, DOC_TYPES[doc_type][0])


def _parse_json(text: str, filename: str | None) -> list[DocPair]:
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise _bad(f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    _check_json_depth(data)
    pairs = []
    for index, (hint, doc) in enumerate(_json_documents(data), 1):
        doc_type = hint or _detect(doc, filename)
        pairs.append(_validate(doc_type, doc, index))
    return pairs


def _json_documents(data: Any) -> list[tuple[str | None, Any]]:
    """(doc type if the wrapper says it, document) for a singular doc, a list, or a wrapper."""
    items: list[tuple[str | None, Any]]
    if isinstance(data, list):
        items = [(None, d) for d in data]
    elif isinstance(data, dict) and len(data) == 1 and next(iter(data)) in _BY_ROOT | _BY_SINGULAR:
        key, value = next(iter(data.items()))
        doc_type = _BY_ROOT.get(key) or _BY_SINGULAR[key]
        single = DOC_TYPES[doc_type][2]
        if isinstance(value, dict) and list(value) == [single]:  # {"Orders": {"Order": [...]}}
            value = value[single]
        items = [(doc_type, d) for d in (value if isinstance(value, list) else [value])]
    else:
        items = [(None, data)]
    if not items:
        raise _bad("the file holds no documents")
    for index, (_, doc) in enumerate(items, 1):
        if not isinstance(doc, dict):
            raise _bad(f"document #{index} is a JSON {type(doc).__name__}, not an object")
    return items


def _detect(doc: dict[str, Any], filename: str | None) -> str:
    """The doc type of a JSON document: its header block first, then the file name prefix."""
    prefix = _BY_PREFIX.get((filename or "").rpartition("/")[2][:2].upper())
    header = doc.get("Header")
    blocks = set(header) if isinstance(header, dict) else set()
    if "InvoiceHeader" in blocks:
        return "invoice"
    if "ShipmentHeader" in blocks:
        return "shipment"
    if "OrderHeader" in blocks:
        if prefix in ("order", "orderack"):
            return prefix  # an 850 may carry AcknowledgementType (BEG07), so the name decides
        return "orderack" if _looks_like_ack(doc) else "order"
    if prefix:
        return prefix
    raise _bad("cannot tell the document type: no Order/Invoice/Shipment header and no PO/PR/IN/SH file name")


def _looks_like_ack(doc: dict[str, Any]) -> bool:
    order_header = doc["Header"]["OrderHeader"]
    if isinstance(order_header, dict) and (
        "AcknowledgementType" in order_header or "AcknowledgementDate" in order_header
    ):
        return True
    lines = doc.get("LineItem")
    return isinstance(lines, list) and any(isinstance(li, dict) and "LineItemAcknowledgement" in li for li in lines)


def _check_json_depth(data: Any) -> None:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > rx.MAX_DEPTH:
            raise _bad(f"nesting deeper than {rx.MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _validate(doc_type: str, data: dict[str, Any], index: int) -> DocPair:
    model = DOC_TYPES[doc_type][0]
    try:
        return doc_type, model.model_validate(data)
    except ValidationError as exc:
        raise _bad(f"{_label(doc_type, data, index)}: {_first_error(exc)}") from None


def _label(doc_type: str, data: dict[str, Any], index: int) -> str:
    """'Order PO123', or 'Order #2' when the number itself is what is missing."""
    block, field = _NUMBER_PATH[doc_type]
    header = data.get("Header")
    header_block = header.get(block) if isinstance(header, dict) else None
    number = header_block.get(field) if isinstance(header_block, dict) else None
    single = DOC_TYPES[doc_type][2]
    if isinstance(number, (str, int, Decimal)) and str(number).strip():
        return f"{single} {rx.strip_forbidden(str(number))[:40]}"
    return f"{single} #{index}"


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = ""
    for part in first["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = first["msg"][:1].lower() + first["msg"][1:]
    if first["type"] != "missing" and isinstance(first.get("input"), (str, int, Decimal)):
        message += f" (got {rx.strip_forbidden(str(first['input']))[:40]!r})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where or 'document'}: {message}{more}"


# --- encode --------------------------------------------------------------------------------


def _check_docs(doc_type: str, docs: list[Rsx]) -> None:
    if doc_type not in DOC_TYPES:
        raise ValueError(f"unknown RSX document type {doc_type!r} (expected one of {', '.join(DOC_TYPES)})")
    model = DOC_TYPES[doc_type][0]
    for doc in docs:
        if type(doc) is not model:
            raise ValueError(f"{doc_type} documents must be {model.__name__}, got {type(doc).__name__}")


def _dump(doc: Rsx) -> dict[str, Any]:
    return doc.model_dump(by_alias=True, exclude_none=True, mode="python")


def encode_xml(doc_type: str, docs: list[Rsx]) -> bytes:
    """RSX XML: the plural root in the RSX namespace holding each document in order."""
    _check_docs(doc_type, docs)
    if not docs:
        raise ValueError("encode_xml needs at least one document")
    _, root_name, single = DOC_TYPES[doc_type]
    root = etree.Element(f"{{{rx.RSX_NS}}}{root_name}", nsmap={None: rx.RSX_NS})
    for doc in docs:
        rx.build_document(root, single, _dump(doc))
    return rx.to_bytes(root)


def encode_json(doc_type: str, doc: Rsx) -> bytes:
    """RSX JSON: one singular document, amounts as JSON numbers and dates as 'YYYY-MM-DD'."""
    _check_docs(doc_type, [doc])
    return to_json_bytes(_dump(doc))


def to_json_bytes(value: Any, indent: int = 2) -> bytes:
    """JSON for alias-keyed dicts from ``model_dump(mode="python")``: Decimal stays a number.

    ``json.dumps`` cannot write a Decimal without going through float (losing cents on large
    amounts) or a string (which RSX JSON does not use), so this small writer does it exactly.
    Empty groups and blocks are left out, as the XML encoder leaves them out: they say nothing.
    """
    out: list[str] = []
    _write_json(value, out, "\n", " " * indent)
    out.append("\n")
    return "".join(out).encode("utf-8")


def _write_json(value: Any, out: list[str], pad: str, step: str) -> None:
    inner = pad + step
    if isinstance(value, dict):
        items = [(k, v) for k, v in rx.ordered_items(value) if v is not None and v != {} and v != []]
        if not items:
            out.append("{}")
            return
        sep = "{"
        for key, item in items:
            out.append(f"{sep}{inner}{_quote(str(key))}: ")
            _write_json(item, out, inner, step)
            sep = ","
        out.append(pad + "}")
    elif isinstance(value, list):
        if not value:
            out.append("[]")
            return
        sep = "["
        for item in value:
            out.append(sep + inner)
            _write_json(item, out, inner, step)
            sep = ","
        out.append(pad + "]")
    else:
        out.append(_json_scalar(value))


def _json_scalar(value: Any) -> str:
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} as a JSON number")
        return rx.plain_decimal(value)
    if isinstance(value, (date, datetime, time)):
        return _quote(value.isoformat())
    return json.dumps(value, ensure_ascii=False)
