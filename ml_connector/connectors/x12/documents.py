"""Typed X12 documents <-> transaction sets (850, 855, 856, 810, 997).

    decode_document(ts)                  -> Document          raises SetError (a BadDocument) only
    encode_document(doc, control_number) -> TransactionSet    CTT01 and HL numbering computed
    unexpected_segments(ts)              -> [(position, id)]  segments the set's standard lacks

A set is cut into its header (after the beginning segment BEG, BAK, BSN, BIG or AK1), its
detail loops (PO1, HL, IT1, AK2) and its summary (from CTT, TDS or AK9 on). Segments a model
does not map are skipped, not rejected: partners send far more than we use. A problem names
the segment and its position in the set (ST = 1) and carries the X12 codes a 997 needs for
its AK3/AK4, so ack.py can reject a set exactly where it is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..errors import BadDocument
from ._fields import (
    Located,
    Problem,
    areas,
    check_count,
    end,
    every,
    first,
    loops,
    read,
    require,
    write,
)
from .models import (
    AckLine,
    Carrier,
    Charge,
    DateRef,
    Document,
    ElementNote,
    FunctionalAck997,
    Invoice810,
    InvoiceLine,
    LineAck,
    Mark,
    OrderLine,
    Pack,
    Packaging,
    Party,
    PoAck855,
    PurchaseOrder850,
    Reference,
    Segment,
    SegmentNote,
    SetResponse,
    ShipItem,
    ShipNotice856,
    ShipOrder,
    Terms,
    TransactionSet,
)

_N1_LOOP = {"N2", "N3", "N4", "NX2", "REF", "PER", "SI", "FOB", "DMG"}
# Data element reference numbers (AK402) of the elements we check most.
_ELEMENT_REFS = {
    "BEG03": "324", "BEG05": "373", "BAK03": "324", "BAK04": "373", "BIG01": "373", "BIG02": "76",
    "BSN02": "396", "BSN03": "373", "PO102": "330", "PO104": "212", "IT102": "358", "IT104": "212",
    "SN102": "382", "TDS01": "610", "CTT01": "354", "HL01": "628", "HL02": "734", "HL03": "735",
    "DTM02": "373", "ACK02": "380",
}


class SetError(BadDocument):
    """A transaction set that cannot be read, with where and why in the 997's own terms."""

    def __init__(self, message: str, *, segment_id: str = "ST", position: int = 1, segment_code: str | None = "8",
                 element: int | None = None, element_code: str | None = None, bad_value: str | None = None,
                 **context: Any) -> None:
        super().__init__(message, **context)
        self.segment_id = segment_id
        self.position = position
        self.segment_code = segment_code  # AK304
        self.element = element  # AK401
        self.reference = _ELEMENT_REFS.get(f"{segment_id}{element:02d}") if element else None  # AK402
        self.element_code = element_code  # AK403
        self.bad_value = bad_value  # AK404


# --- pieces shared by the sets ------------------------------------------------------------


def _party(loop: list[Located]) -> Party:
    found = {seg_id: s for seg_id in ("N3", "N4") if (s := first(loop, seg_id))}
    return read(Party, {"N1": loop[0], **found})


def _header(head: list[Located]) -> tuple[dict[str, Any], list[Located]]:
    """Currency, references, dates and parties of a header, and its other segments."""
    outside, parties = loops(head, "N1", _N1_LOOP)
    cur = first(outside, "CUR")
    return dict(
        currency=(cur[1].get(2) or None) if cur else None,
        references=[read(Reference, {"REF": r}) for r in every(outside, "REF")],
        dates=[read(DateRef, {"DTM": d}) for d in every(outside, "DTM")],
        parties=[_party(loop) for loop in parties],
    ), outside


def _line(model: type, loop: list[Located], **extra: Any) -> Any:
    found = {loop[0][1].id: loop[0]}
    pid = next((s for s in every(loop, "PID") if s[1].get(5)), None)
    if pid:
        found["PID"] = pid
    return read(model, found, **extra)


def _pid(description: str | None) -> list[Segment]:
    return [Segment(id="PID", elements=["F", "", "", "", description])] if description else []


def _refs(references: list[Reference]) -> list[Segment]:
    return [write(r, "REF", True) for r in references]


def _dates(dates: list[DateRef]) -> list[Segment]:
    return [write(d, "DTM", True) for d in dates]


def _parties(parties: list[Party]) -> list[Segment]:
    out: list[Segment] = []
    for party in parties:
        out.extend(s for s in (write(party, "N1", True), write(party, "N3"), write(party, "N4")) if s)
    return out


def _currency(currency: str | None) -> list[Segment]:
    return [Segment(id="CUR", elements=["BY", currency])] if currency else []


def _ctt(count: int, hash_total: Decimal | None = None) -> Segment:
    return Segment(id="CTT", elements=[str(count)] + ([format(hash_total, "f")] if hash_total is not None else []))


def _lines(lines: list[Any], seg_id: str) -> list[Segment]:
    out: list[Segment] = []
    for line in lines:
        out += [write(line, seg_id, True), *_pid(line.description)]
        out += [write(ack, "ACK", True) for ack in getattr(line, "acks", [])]
    return out


# --- 850, 855, 810 ------------------------------------------------------------------------


def _decode_850(ts: TransactionSet) -> PurchaseOrder850:
    beg, head, lines, summary = areas(ts, "BEG", "PO1", "CTT")
    if not lines:
        raise Problem("PO1", (summary[0][0] if summary else end(ts)), "no PO1 line", code="3")
    check_count(summary, len(lines), "PO1 lines")
    header, _ = _header(head)
    return read(PurchaseOrder850, {"BEG": beg}, **header, lines=[_line(OrderLine, loop) for loop in lines])


def _encode_850(po: PurchaseOrder850) -> list[Segment]:
    header = [write(po, "BEG", True), *_currency(po.currency), *_refs(po.references), *_dates(po.dates)]
    hash_total = sum((line.quantity for line in po.lines), Decimal(0))  # CTT02: sum of PO102
    return [*header, *_parties(po.parties), *_lines(po.lines, "PO1"), _ctt(len(po.lines), hash_total)]


def _decode_855(ts: TransactionSet) -> PoAck855:
    bak, head, lines, summary = areas(ts, "BAK", "PO1", "CTT")
    check_count(summary, len(lines), "PO1 lines")
    header, _ = _header(head)
    acked = [_line(AckLine, loop, acks=[read(LineAck, {"ACK": a}) for a in every(loop, "ACK")]) for loop in lines]
    return read(PoAck855, {"BAK": bak}, **header, lines=acked)


def _encode_855(ack: PoAck855) -> list[Segment]:
    header = [write(ack, "BAK", True), *_currency(ack.currency), *_refs(ack.references), *_dates(ack.dates)]
    summary = [_ctt(len(ack.lines))] if ack.lines else []  # an RJ of the whole order may have no lines
    return [*header, *_parties(ack.parties), *_lines(ack.lines, "PO1"), *summary]


def _decode_810(ts: TransactionSet) -> Invoice810:
    big, head, lines, summary = areas(ts, "BIG", "IT1", "TDS")
    tds = require(summary, "TDS", end(ts))
    check_count(summary, len(lines), "IT1 lines")
    header, outside = _header(head)
    itd = first(outside, "ITD")
    return read(
        Invoice810, {"BIG": big, "TDS": tds}, **header,
        terms=read(Terms, {"ITD": itd}) if itd else None,
        lines=[_line(InvoiceLine, loop) for loop in lines],
        charges=[read(Charge, {"SAC": s}) for s in every(summary, "SAC")],
    )


def _encode_810(inv: Invoice810) -> list[Segment]:
    header = [write(inv, "BIG", True), *_currency(inv.currency), *_refs(inv.references), *_parties(inv.parties)]
    terms = [write(inv.terms, "ITD", True)] if inv.terms else []
    summary = [write(inv, "TDS", True), *(write(c, "SAC", True) for c in inv.charges)]
    summary += [_ctt(len(inv.lines))] if inv.lines else []
    return [*header, *terms, *_dates(inv.dates), *_lines(inv.lines, "IT1"), *summary]


# --- 856: the HL hierarchy ----------------------------------------------------------------

# Which level may sit under which; a top-level HL (no parent) must be the shipment.
_CHILDREN = {"": ("S",), "S": ("O",), "O": ("T", "P", "I"), "T": ("P", "I"), "P": ("I",), "I": ()}


def _decode_856(ts: TransactionSet) -> ShipNotice856:
    bsn, head, hls, summary = areas(ts, "BSN", "HL", "CTT")
    if not hls:
        raise Problem("HL", (summary[0][0] if summary else end(ts)), "no HL level", code="3")
    check_count(summary, len(hls), "HL segments")
    shipment: dict[str, Any] = {}
    nodes: dict[str, tuple[str, Any]] = {}
    for loop in hls:
        hl_id, level, parent = _hl(loop[0], nodes, shipment)
        node = _ship_level(level, loop, shipment)
        if level == "O":
            shipment["orders"].append(node)
        elif level != "S":
            getattr(parent, "packs" if level in ("P", "T") else "items").append(node)
        nodes[hl_id] = (level, node)
    if not shipment["orders"]:
        raise Problem("HL", end(ts), "no order level (HL03 = O)", code="3")
    shipment["dates"] = [read(DateRef, {"DTM": d}) for d in every(head, "DTM")] + shipment["dates"]
    return read(ShipNotice856, {"BSN": bsn}, **shipment)


def _hl(located: Located, nodes: dict[str, tuple[str, Any]], shipment: dict) -> tuple[str, str, Any]:
    """(HL01, HL03, parent node or None for the shipment) after checking the hierarchy."""
    position, hl = located
    hl_id, parent_id, level = hl.get(1), hl.get(2), hl.get(3)
    if not hl_id or hl_id in nodes:
        raise Problem("HL", position, f"HL01 {hl_id!r} is missing or repeats", element=1,
                      element_code="1" if not hl_id else "7", value=hl_id or None)
    if parent_id and parent_id not in nodes:
        raise Problem("HL", position, f"HL02 {parent_id!r} names no earlier HL", element=2, element_code="7",
                      value=parent_id)
    parent_level, parent = nodes[parent_id] if parent_id else ("", None)
    if level not in _CHILDREN[parent_level] or (level == "S" and shipment):
        under = f"under level {parent_level}" if parent_level else "at the top"
        raise Problem("HL", position, f"HL03 level {level!r} cannot sit {under}", element=3, element_code="7",
                      value=level or None)
    return hl_id, level, parent


def _ship_level(level: str, loop: list[Located], shipment: dict) -> Any:
    anchor, body = loop[0][0], loop[1:]
    outside, parties = loops(body, "N1", _N1_LOOP)
    refs = [read(Reference, {"REF": r}) for r in every(outside, "REF")]
    if level == "S":
        td5 = first(outside, "TD5")
        shipment.update(
            packaging=[read(Packaging, {"TD1": t}) for t in every(outside, "TD1")],
            carrier=read(Carrier, {"TD5": td5}) if td5 else None, references=refs, orders=[],
            dates=[read(DateRef, {"DTM": d}) for d in every(outside, "DTM")],
            parties=[_party(p) for p in parties],
        )
        return None
    if level == "O":
        prf = require(outside, "PRF", anchor)
        return read(ShipOrder, {"PRF": prf}, references=refs, parties=[_party(p) for p in parties])
    if level in ("P", "T"):
        return Pack(level=level, marks=[read(Mark, {"MAN": m}) for m in every(body, "MAN")])
    found = {seg_id: s for seg_id in ("LIN", "SN1") if (s := first(body, seg_id))}
    pid = next((s for s in every(body, "PID") if s[1].get(5)), None)
    return read(ShipItem, {**found, **({"PID": pid} if pid else {})}, anchor)


def _encode_856(notice: ShipNotice856) -> list[Segment]:
    out = [write(notice, "BSN", True)]
    count = 0

    def hl(parent: str, level: str, has_children: bool) -> str:
        nonlocal count
        count += 1
        out.append(Segment(id="HL", elements=[str(count), parent, level, "1" if has_children else "0"]))
        return str(count)

    def item(parent: str, it: ShipItem) -> None:
        hl(parent, "I", False)
        out.extend(s for s in (write(it, "LIN"), write(it, "SN1", True)) if s)
        out.extend(_pid(it.description))

    def pack(parent: str, p: Pack) -> None:
        me = hl(parent, p.level, bool(p.packs or p.items))
        out.extend(write(m, "MAN", True) for m in p.marks)
        for child in p.packs:
            pack(me, child)
        for it in p.items:
            item(me, it)

    top = hl("", "S", True)
    out += [write(t, "TD1", True) for t in notice.packaging]
    out += [write(notice.carrier, "TD5", True)] if notice.carrier else []
    out += [*_refs(notice.references), *_dates(notice.dates), *_parties(notice.parties)]
    for order in notice.orders:
        me = hl(top, "O", bool(order.packs or order.items))
        out += [write(order, "PRF", True), *_refs(order.references), *_parties(order.parties)]
        for p in order.packs:
            pack(me, p)
        for it in order.items:
            item(me, it)
    return [*out, _ctt(count)]


# --- 997 ----------------------------------------------------------------------------------


def _decode_997(ts: TransactionSet) -> FunctionalAck997:
    ak1, _, responses, summary = areas(ts, "AK1", "AK2", "AK9")
    ak9 = require(summary, "AK9", end(ts))
    return read(FunctionalAck997, {"AK1": ak1, "AK9": ak9}, responses=[_response(loop) for loop in responses])


def _response(loop: list[Located]) -> SetResponse:
    ak5 = require(loop, "AK5", loop[-1][0] + 1)
    notes: list[tuple[Located, list[ElementNote]]] = []
    for located in loop[1:]:
        if located[1].id == "AK3":
            notes.append((located, []))
        elif located[1].id == "AK4" and notes:  # an AK4 details the AK3 before it
            notes[-1][1].append(read(ElementNote, {"AK4": located}))
    errors = [read(SegmentNote, {"AK3": ak3}, elements=elements) for ak3, elements in notes]
    return read(SetResponse, {"AK2": loop[0], "AK5": ak5}, errors=errors)


def _encode_997(ack: FunctionalAck997) -> list[Segment]:
    out = [write(ack, "AK1", True)]
    for response in ack.responses:
        out.append(write(response, "AK2", True))
        for note in response.errors:
            out += [write(note, "AK3", True), *(write(e, "AK4", True) for e in note.elements)]
        out.append(write(response, "AK5", True))
    return [*out, write(ack, "AK9", True)]


# --- dispatch -----------------------------------------------------------------------------

_CODECS: dict[str, tuple[Callable[[TransactionSet], Any], Callable[[Any], list[Segment]]]] = {
    "850": (_decode_850, _encode_850), "855": (_decode_855, _encode_855), "856": (_decode_856, _encode_856),
    "810": (_decode_810, _encode_810), "997": (_decode_997, _encode_997),
}
SUPPORTED = tuple(_CODECS)


def decode_document(ts: TransactionSet) -> Document:
    """The typed document of one set; raises :class:`SetError` with a one-line reason only."""
    if ts.id not in _CODECS:
        raise SetError(f"transaction set {ts.id} {ts.control_number} is not supported ({', '.join(SUPPORTED)})",
                       segment_code=None, system="x12", operation="decode")
    try:
        return _CODECS[ts.id][0](ts)
    except Problem as problem:
        where = problem.where
        place = f"{where['segment_id']} at position {where['position']}"
        raise SetError(f"{ts.id} set {ts.control_number}, {place}: {problem.why}", **where, system="x12",
                       operation="decode") from None
    except Exception as exc:  # the contract is SetError only; say what broke, in one line
        raise SetError(f"{ts.id} set {ts.control_number}: unreadable ({type(exc).__name__}: {exc})"[:400],
                       system="x12", operation="decode") from None


def encode_document(doc: Document, control_number: str = "0001") -> TransactionSet:
    """``doc`` as a transaction set with ST02 ``control_number``; SE01 is counted on encode.

    Raises :class:`BadDocument` when a value cannot be written (money with fractions of a cent
    in an implied-cents element, a non-finite number).
    """
    set_id = getattr(type(doc), "set_id", None)
    if set_id not in _CODECS:
        raise ValueError(f"not an X12 document model: {type(doc).__name__}")
    try:
        segments = _CODECS[set_id][1](doc)
    except Problem as problem:
        raise BadDocument(f"cannot encode {set_id}: {problem.why}", system="x12", operation="encode") from None
    return TransactionSet(id=set_id, control_number=control_number, segments=segments)


# Segment ids each set's standard (4010/5010) allows; others make a 997 say "accepted with errors".
_COMMON = {"NTE", "CUR", "REF", "PER", "DTM", "N9", "MSG", "N1", "N2", "N3", "N4", "NX2", "FOB", "ITD", "TD1",
           "TD3", "TD4", "TD5", "SAC", "PID", "PO4", "MEA", "PWK", "PKG", "CTP", "TXI", "AMT", "CTT", "SI", "LM",
           "LQ", "SDQ", "QTY", "SLN", "TAX", "DIS", "YNQ", "MAN", "LIN", "SCH", "PAM", "CSH", "TC2", "INC", "LDT"}
_DICTIONARY = {
    "850": _COMMON | {"BEG", "PO1", "PO3", "ADV", "SPI", "CB1", "FST", "LS", "LE", "CTB", "PCT", "ACK"},
    "855": _COMMON | {"BAK", "PO1", "PO3", "ACK", "CTB", "FST"},
    "856": _COMMON | {"BSN", "HL", "PRF", "SN1", "PAL", "CLD", "TSD", "PSD", "V1", "GF"},
    "810": _COMMON | {"BIG", "IT1", "IT3", "TDS", "CAD", "ISS", "L7", "SR", "FA1", "FA2", "BAL", "INC"},
    "997": {"AK1", "AK2", "AK3", "AK4", "AK5", "AK9"},
}


def unexpected_segments(ts: TransactionSet) -> list[tuple[int, str]]:
    """(position, id) of each segment the set's standard does not define (ST = position 1)."""
    allowed = _DICTIONARY.get(ts.id)
    if allowed is None:
        return []
    return [(p, s.id) for p, s in enumerate(ts.segments, 2) if s.id not in allowed]
