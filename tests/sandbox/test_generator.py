"""The seeded RSX generator: deterministic, realistic, labelled bad inputs, fast at volume."""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal

import pytest

from ml_connector.connectors.errors import BadDocument
from ml_connector.connectors.sps import rsx
from ml_connector.connectors.sps.models import RsxInvoice, RsxOrder, RsxShipment, natural_key
from ml_connector.sandbox.catalogue import Catalogue, ItemSpec, PartnerSpec, demo_catalogue, gs1_check_digit
from ml_connector.sandbox.generator import BAD_LABELS, GeneratedDoc, generate

CATALOGUE = demo_catalogue()
PARTNERS = {p.partner_id for p in CATALOGUE.partners}
PARTS = {i.buyer_part for i in CATALOGUE.items}


@pytest.fixture(scope="module")
def docs() -> list[GeneratedDoc]:
    return generate(600, seed=11)


@pytest.fixture(scope="module")
def parsed(docs) -> list[tuple[GeneratedDoc, str, object]]:
    out = []
    for d in docs:
        [(doc_type, model)] = rsx.parse(d.content, filename=d.filename)
        out.append((d, doc_type, model))
    return out


def test_demo_catalogue():
    assert len(CATALOGUE.partners) == 4 and "SPSALLTESTID" in PARTNERS and "ACMEDIST0001" in PARTNERS
    assert all(1 <= len(p) <= 15 for p in PARTNERS)
    assert len(CATALOGUE.items) == 24 and len(PARTS) == 24
    for item in CATALOGUE.items:
        assert len(item.upc) == 12 and gs1_check_digit(item.upc[:-1]) == item.upc[-1]
        assert isinstance(item.unit_price, Decimal) and item.unit_price > 0


def test_same_seed_same_bytes_other_seed_other_bytes():
    assert generate(50, seed=3, bad_fraction=0.2) == generate(50, seed=3, bad_fraction=0.2)
    assert [d.content for d in generate(50, seed=3)] != [d.content for d in generate(50, seed=4)]


def test_every_good_document_parses_as_labelled(parsed):
    for doc, doc_type, model in parsed:
        assert doc.expect == "post" and doc_type == doc.doc_type
        assert natural_key(doc_type, model) == (doc.partner_id, doc.number)
        assert doc.filename == f"{doc.number}.{'xml' if doc.content.startswith(b'<') else 'json'}"
        assert doc.partner_id in PARTNERS
        assert rsx.parse(rsx.encode_xml(doc_type, [model])) == [(doc_type, model)]


def test_mix_formats_and_unique_numbers(docs):
    share = Counter(d.doc_type for d in docs)
    assert abs(share["order"] / len(docs) - 0.40) < 0.07
    assert abs(share["invoice"] / len(docs) - 0.35) < 0.07
    assert abs(share["shipment"] / len(docs) - 0.25) < 0.07
    assert {d.filename.rsplit(".", 1)[1] for d in docs} == {"xml", "json"}
    keys = [(d.partner_id, d.doc_type, d.number) for d in docs]
    assert len(set(keys)) == len(keys) and len({d.filename for d in docs}) == len(docs)
    assert all(d.number.startswith({"order": "PO", "invoice": "IN", "shipment": "SH"}[d.doc_type]) for d in docs)


def test_documents_look_like_the_real_thing(parsed):
    orders = {(d.partner_id, d.number) for d, t, _ in parsed if t == "order"}
    seen_orders: set[tuple[str, str]] = set()
    for doc, _, model in parsed:
        if isinstance(model, RsxOrder):
            assert 1 <= len(model.line_item) <= 8
            total = sum(li.order_line.order_qty * li.order_line.purchase_price for li in model.line_item)
            assert model.summary.total_amount == total
            assert {li.order_line.buyer_part_number for li in model.line_item} <= PARTS
            seen_orders.add((doc.partner_id, doc.number))
        elif isinstance(model, RsxInvoice):
            h = model.header.invoice_header
            assert (doc.partner_id, h.purchase_order_number) in seen_orders  # an earlier PO, same partner
            assert model.header.payment_terms and h.invoice_date >= h.purchase_order_date
            signed = sum((c.allow_chrg_amt if c.allow_chrg_indicator == "C" else -c.allow_chrg_amt)
                         for c in model.header.charges_allowances)
            assert model.summary.total_amount == model.summary.total_sales_amount + signed
        else:
            assert isinstance(model, RsxShipment) and 1 <= len(model.order_level) <= 2
            for level in model.order_level:
                assert (doc.partner_id, level.order_header.purchase_order_number) in seen_orders
                assert 1 <= len(level.pack_level) <= 3
                for pack in level.pack_level:
                    serial = pack.pack.shipping_serial_i_d
                    assert len(serial) == 20 and serial[:2] == "00" and gs1_check_digit(serial[2:-1]) == serial[-1]
            assert model.summary.total_line_item_number == len(model.item_lines())
    assert seen_orders <= orders
    kinds = {c.allow_chrg_indicator for _, _, m in parsed if isinstance(m, RsxInvoice)
             for c in m.header.charges_allowances}
    assert kinds == {"A", "C"}


def test_bad_inputs_are_labelled_and_behave_as_labelled():
    docs = generate(400, seed=5, bad_fraction=0.5)
    labels = Counter(d.expect for d in docs)
    assert set(labels) == {"post", *BAD_LABELS}
    for doc in docs:
        if doc.expect in ("post", "bad:unknown-partner", "bad:unknown-item"):
            [(doc_type, model)] = rsx.parse(doc.content, filename=doc.filename)
            if doc.expect == "bad:unknown-partner":
                assert natural_key(doc_type, model)[0] not in PARTNERS
            if doc.expect == "bad:unknown-item":
                assert {li.order_line.buyer_part_number for li in model.line_item}.isdisjoint(PARTS)
        else:
            with pytest.raises(BadDocument):
                rsx.parse(doc.content, filename=doc.filename)


def test_formats_limit_the_bad_labels_too():
    docs = generate(200, seed=2, formats=("json",), bad_fraction=0.5)
    assert all(d.filename.endswith(".json") for d in docs)
    assert not {d.expect for d in docs} & {"bad:entity-bomb", "bad:external-entity", "bad:malformed-xml"}


def test_custom_catalogue_and_first_number():
    catalogue = Catalogue([PartnerSpec("P1", "V1", "Partner One")],
                          [ItemSpec("B1", "V-1", "000000000017", "Thing", Decimal("1.10"))])
    docs = generate(20, seed=1, catalogue=catalogue, first_number=500)
    assert {d.partner_id for d in docs} == {"P1"} and docs[0].number == "PO000500"


@pytest.mark.parametrize("kwargs", [{"formats": ("csv",)}, {"formats": ()}, {"bad_fraction": 1.5}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        generate(1, **kwargs)


def test_ten_thousand_documents_in_seconds():
    started = time.perf_counter()
    docs = generate(10_000, seed=9)
    elapsed = time.perf_counter() - started
    assert len(docs) == 10_000 and len({d.filename for d in docs}) == 10_000
    assert elapsed < 20, f"generation took {elapsed:.1f}s"
    for doc in docs[::250]:
        assert rsx.parse(doc.content, filename=doc.filename)[0][0] == doc.doc_type
