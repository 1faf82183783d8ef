"""Properties: any bytes give an Interchange or a BadDocument, and generated X12 round-trips.

The fuzzing starts from the fixtures as well as from nothing, because random bytes almost never
get past "does not start with ISA"; small edits to a real interchange reach the deep paths.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ml_connector.connectors import x12  # noqa: E402
from ml_connector.connectors.errors import BadDocument  # noqa: E402
from ml_connector.connectors.x12 import (  # noqa: E402
    FunctionalGroup,
    Interchange,
    Segment,
    Separators,
    SetError,
    TransactionSet,
)
from ml_connector.connectors.x12 import models as m  # noqa: E402

FIXTURES = {p.name: p.read_bytes() for p in sorted((Path(__file__).parents[2] / "fixtures" / "x12").glob("*.x12"))}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AT = datetime(2024, 3, 1, 9, 15)


def survives(data: bytes) -> None:
    """parse -> Interchange or BadDocument; whatever parses re-encodes, decodes and is acknowledged."""
    try:
        ic = x12.parse(data)
    except BadDocument:
        return
    assert x12.parse(x12.encode(ic)) == ic
    for group in ic.groups:
        for ts in group.sets:
            try:
                doc = x12.decode_document(ts)
            except SetError:
                continue
            assert x12.decode_document(x12.encode_document(doc, ts.control_number)) == doc
    ack = x12.acknowledge(ic, control_number=1, at=AT)
    if ack is not None:
        assert x12.parse(x12.encode(ack)) == ack


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes(data):
    survives(data)


@FUZZ
@given(st.sampled_from(sorted(FIXTURES)), st.binary(max_size=200))
def test_a_real_isa_then_any_bytes(name, tail):
    survives(FIXTURES[name][:106] + tail)


NOISE = st.sampled_from(list(b"*~>|^'!:\n\r0123456789ASEGITHLPO -.\xff"))


@st.composite
def edited_fixture(draw) -> bytes:
    data = bytearray(FIXTURES[draw(st.sampled_from(sorted(FIXTURES)))])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        if action == "truncate":
            del data[at:]
        elif action == "delete":
            del data[at:at + draw(st.integers(1, 12))]
        elif action == "insert":
            data[at:at] = bytes([draw(NOISE)])
        elif at < len(data):
            data[at] = draw(NOISE)
    return bytes(data)


@FUZZ
@given(edited_fixture())
def test_edited_fixtures(data):
    survives(data)


FIXTURE_SETS = [ts for data in FIXTURES.values() for g in x12.parse(data).groups for ts in g.sets]
VALUES = st.one_of(st.text(st.sampled_from("0123456789.-ABSIOPTX E"), max_size=10), st.sampled_from(
    ["", "0", "-1", "1.5", "1e5", "NaN", "20241301", "20240229", "S", "O", "P", "T", "I", "1", "2", "99"]))


@st.composite
def edited_set(draw) -> TransactionSet:
    """A fixture set with segments dropped, repeated or moved, and element values replaced."""
    ts = draw(st.sampled_from(FIXTURE_SETS))
    segments = [s.model_copy(deep=True) for s in ts.segments]
    for _ in range(draw(st.integers(1, 4))):
        if not segments:
            break
        k = draw(st.integers(0, len(segments) - 1))
        action = draw(st.sampled_from(["value", "value", "drop", "repeat", "move"]))
        if action == "drop":
            del segments[k]
        elif action == "repeat":
            segments.insert(k, segments[k].model_copy(deep=True))
        elif action == "move":
            segments.insert(draw(st.integers(0, len(segments))), segments.pop(k))
        else:
            n = draw(st.integers(0, len(segments[k].elements)))
            elements = list(segments[k].elements) + [""] * (n + 1 - len(segments[k].elements))
            elements[n] = draw(VALUES)
            segments[k] = Segment(id=segments[k].id, elements=elements)
    return ts.model_copy(update={"segments": segments})


@FUZZ
@given(edited_set())
def test_edited_sets_decode_or_raise_set_error(ts):
    try:
        doc = x12.decode_document(ts)
    except SetError as err:
        assert "\n" not in str(err) and err.position >= 1
        response = x12.check_set(ts)
        assert response.status == "R" and response.errors[0].position == err.position
    else:
        assert x12.decode_document(x12.encode_document(doc, ts.control_number)) == doc
    ic = x12.wrap([ts], sender_id="A", receiver_id="B", control_number=1, at=AT)
    ack = x12.acknowledge(x12.parse(x12.encode(ic)), control_number=2, at=AT)
    if ts.id == "997":  # a 997 is never acknowledged
        assert ack is None
        return
    assert x12.read_997(x12.parse(x12.encode(ack)))[0].set_control_number == ts.control_number


# --- generated raw interchanges -----------------------------------------------------------

SEPARATOR_SETS = [
    Separators(),
    Separators(repetition="^"),
    Separators(element="|", component="^", segment="'", repetition="!"),
    Separators(element="*", component=":", segment="~", suffix="\n"),
    Separators(element="^", component="\\", segment="\n"),
]
SAFE = "ABCXYZ0123456789 -./#&é日"


def text(min_size: int = 1, max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(SAFE), min_size=min_size, max_size=max_size)


def element() -> st.SearchStrategy:
    composite = st.lists(text(0), min_size=1, max_size=3).map(lambda parts: [*parts, "Z"])
    return st.one_of(text(0), composite)


segment = st.builds(
    Segment, id=st.sampled_from(["REF", "N1", "PO1", "DTM", "ZZ9", "AB", "LIN"]),
    elements=st.lists(element(), max_size=6).map(lambda els: [*els, "END"] if els else els),
)
transaction_set = st.builds(TransactionSet, id=st.sampled_from(["850", "810", "856", "999"]),
                            control_number=st.from_regex(r"[0-9A-Z]{4,9}", fullmatch=True),
                            implementation=st.one_of(st.none(), st.just("005010X1")),
                            segments=st.lists(segment, max_size=6))
ids = st.from_regex(r"[A-Z0-9]{1,15}", fullmatch=True)


@st.composite
def interchanges(draw) -> Interchange:
    sets_per_group = draw(st.lists(st.lists(transaction_set, max_size=3, unique_by=lambda s: s.control_number),
                                   max_size=3))
    groups = [FunctionalGroup(functional_id=draw(st.sampled_from(["PO", "IN", "SH"])), app_sender=draw(ids),
                              app_receiver=draw(ids), date="20240301", time=draw(st.sampled_from(["0915", "091530"])),
                              control_number=k + 1, version=draw(st.sampled_from(["004010", "005010", "004010VICS"])),
                              sets=sets) for k, sets in enumerate(sets_per_group)]
    return Interchange(sender_id=draw(ids), receiver_id=draw(ids),
                       sender_qualifier=draw(st.sampled_from(["ZZ", "01"])), date="240301", time="0915",
                       control_number=draw(st.integers(0, 999_999_999)),
                       separators=draw(st.sampled_from(SEPARATOR_SETS)), groups=groups)


@ROUND
@given(interchanges())
def test_generated_interchanges_round_trip(ic):
    data = x12.encode(ic)
    assert x12.parse(data) == ic
    assert x12.encode(x12.parse(data)) == data


# --- generated typed documents ------------------------------------------------------------

opt = st.one_of(st.none(), text())
qty = st.decimals(min_value=-10**6, max_value=10**6, places=3, allow_nan=False, allow_infinity=False)
cents = st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
day = st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31))
pairs = st.lists(st.builds(m.ProductId, qualifier=text(2, 2), value=text()), max_size=3)
refs = st.lists(st.builds(m.Reference, qualifier=text(2, 3), value=opt, description=opt), max_size=2)
dates = st.lists(st.builds(m.DateRef, qualifier=text(3, 3), date=st.one_of(st.none(), day), time=opt), max_size=2)
parties = st.lists(st.builds(m.Party, entity=text(2, 2), name=opt, id_qualifier=opt, id=opt, address1=opt,
                             address2=opt, city=opt, state=opt, postal_code=opt, country=opt), max_size=2)
header = dict(currency=opt, references=refs, dates=dates, parties=parties)
line = dict(line_id=opt, quantity=qty, uom=text(2, 2), unit_price=st.one_of(st.none(), qty), price_basis=opt,
            product_ids=pairs, description=opt)
acks = st.lists(st.builds(m.LineAck, status=text(2, 2), quantity=st.one_of(st.none(), qty), uom=opt,
                          date_qualifier=opt, date=st.one_of(st.none(), day)), max_size=2)

orders_850 = st.builds(m.PurchaseOrder850, purpose=text(2, 2), po_type=text(2, 2), po_number=text(), release=opt,
                       po_date=day, contract=opt,
                       lines=st.lists(st.builds(m.OrderLine, **line), min_size=1, max_size=3), **header)
acks_855 = st.builds(m.PoAck855, ack_type=text(2, 2), po_number=text(), po_date=day, release=opt, contract=opt,
                     seller_order_number=opt, ack_date=st.one_of(st.none(), day),
                     lines=st.lists(st.builds(m.AckLine, acks=acks, **line), max_size=3), **header)
terms = st.builds(m.Terms, type_code=opt, discount_percent=st.one_of(st.none(), qty), discount_days=st.integers(0, 99),
                  net_due_date=st.one_of(st.none(), day), discount_amount=st.one_of(st.none(), cents), description=opt)
invoices_810 = st.builds(
    m.Invoice810, invoice_date=day, invoice_number=text(), po_date=st.one_of(st.none(), day), po_number=opt,
    transaction_type=opt, terms=st.one_of(st.none(), terms), total=cents,
    lines=st.lists(st.builds(m.InvoiceLine, **{**line, "unit_price": qty}), max_size=3),
    charges=st.lists(st.builds(m.Charge, indicator=st.sampled_from(["A", "C"]), code=opt,
                               amount=st.one_of(st.none(), cents), description=opt), max_size=2),
    **header)
items = st.lists(st.builds(m.ShipItem, line_id=opt, product_ids=pairs, quantity=qty, uom=text(2, 2), description=opt),
                 max_size=2)
marks = st.lists(st.builds(m.Mark, qualifier=text(2, 2), number=text()), max_size=2)
packs = st.lists(st.builds(m.Pack, level=st.just("P"), marks=marks, items=items), max_size=2)
tares = st.lists(st.builds(m.Pack, level=st.just("T"), marks=marks, packs=packs, items=items), max_size=1)
notices_856 = st.builds(
    m.ShipNotice856, shipment_id=text(), date=day, time=st.from_regex(r"[0-9]{4}", fullmatch=True),
    structure_code=st.sampled_from([None, "0001", "0002"]),
    packaging=st.lists(st.builds(m.Packaging, packaging_code=opt, lading_quantity=st.integers(0, 999),
                                 weight=st.one_of(st.none(), qty)), max_size=1),
    carrier=st.one_of(st.none(), st.builds(m.Carrier, scac=opt, routing=opt)), references=refs, dates=dates,
    parties=parties,
    orders=st.lists(st.builds(m.ShipOrder, po_number=text(), po_date=st.one_of(st.none(), day), references=refs,
                              parties=parties, packs=st.one_of(packs, tares), items=items), min_size=1, max_size=2),
)
notes = st.lists(st.builds(m.SegmentNote, segment_id=text(2, 3), position=st.integers(1, 999), loop_id=opt,
                           code=st.sampled_from([None, "1", "2", "8"]),
                           elements=st.lists(st.builds(m.ElementNote, position=st.integers(1, 99), reference=opt,
                                                       code=text(1, 2), bad_value=opt), max_size=2)), max_size=2)
acks_997 = st.builds(
    m.FunctionalAck997, functional_id=text(2, 2), group_control_number=st.integers(1, 999_999_999), version=opt,
    status=st.sampled_from(["A", "E", "P", "R"]), included=st.integers(0, 99), received=st.integers(0, 99),
    accepted=st.integers(0, 99), codes=st.lists(text(1, 2), max_size=2),
    responses=st.lists(st.builds(m.SetResponse, set_id=text(3, 3), control_number=text(4, 9), errors=notes,
                                 status=st.sampled_from(["A", "E", "R"]), codes=st.lists(text(1, 2), max_size=3)),
                       max_size=3),
)


@ROUND
@given(st.one_of(orders_850, acks_855, invoices_810, notices_856, acks_997), st.sampled_from(["004010", "005010"]))
def test_generated_documents_round_trip_through_bytes(doc, version):
    ts = x12.encode_document(doc, "0001")
    data = x12.encode(x12.wrap([ts], sender_id="SENDER", receiver_id="RECEIVER", control_number=5, version=version,
                               at=AT))
    [back] = x12.parse(data).groups[0].sets
    assert back == ts
    assert x12.decode_document(back) == doc


def test_a_large_money_amount_keeps_every_digit():
    inv = m.Invoice810(invoice_date=date(2024, 1, 1), invoice_number="I",
                       total=Decimal("123456789012345678901234567.89"),
                       lines=[m.InvoiceLine(quantity=Decimal(1), uom="EA", unit_price=Decimal(1))])
    ts = x12.encode_document(inv)
    assert Segment(id="TDS", elements=["12345678901234567890123456789"]) in ts.segments
    assert x12.decode_document(ts).total == inv.total
