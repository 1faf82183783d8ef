"""ANSI X12 codec: interchanges, the retail sets 850/855/856/810 and 997 acknowledgments.

    parse(data, max_bytes=)              -> Interchange      raises BadDocument only
    encode(interchange)                  -> bytes            SE01/GE01/IEA01 always computed
    wrap(sets, sender_id=, receiver_id=, control_number=, ...) -> Interchange
    decode_document(ts) / encode_document(doc, control_number) <-> typed documents
    acknowledge(interchange, control_number=) -> Interchange | None   (a 997 per group)
    read_997(interchange)                -> [AckResult(group, set, status, reasons)]

Written in-house: the Python X12 libraries are HIPAA-only (pyx12, tigershark), parse-only and
unmaintained (badX12), or GPL (bots); see the EDI reference sheet, section B.7.
"""

from __future__ import annotations

from .ack import AckResult, acknowledge, acknowledge_group, check_set, read_997
from .documents import SetError, decode_document, encode_document, unexpected_segments
from .envelope import encode_interchange, parse_interchange, wrap
from .models import (
    Document,
    FunctionalAck997,
    FunctionalGroup,
    Interchange,
    Invoice810,
    PoAck855,
    PurchaseOrder850,
    Segment,
    Separators,
    ShipNotice856,
    TransactionSet,
)

__all__ = [
    "AckResult", "Document", "FunctionalAck997", "FunctionalGroup", "Interchange", "Invoice810", "PoAck855",
    "PurchaseOrder850", "Segment", "Separators", "SetError", "ShipNotice856", "TransactionSet", "acknowledge",
    "acknowledge_group", "check_set", "decode_document", "encode", "encode_document", "parse", "read_997",
    "unexpected_segments", "wrap",
]


def parse(data: bytes, *, max_bytes: int = 10_000_000) -> Interchange:
    """The interchange in ``data``, separators read from its ISA.

    Raises :class:`~ml_connector.connectors.errors.BadDocument` with a one-line reason naming the
    segment and its position for anything malformed (truncated ISA, wrong SE01/GE01/IEA01,
    mismatched control numbers, garbage), and no other exception.
    """
    return parse_interchange(data, max_bytes=max_bytes)


def encode(interchange: Interchange) -> bytes:
    """``interchange`` as bytes with its own separators; counts computed, ISA fields padded."""
    return encode_interchange(interchange)
