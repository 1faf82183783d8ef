"""Documents sent to SPS live: a changed source document goes out again as an RSX replacement
(TsetPurposeCode 05), a voided, deleted or reversed one as a cancellation (01), each revision as
a file of its own that SPS passes on once; an older version read after a newer one, or a
cancellation of something never sent, sends nothing (docs/revisions-outbound-sps.md).

On the real engine, the session's Prefect server and the emulators; SPS takes every file at
once (``pickup_after = 0``), so what the retailer received is the emulator's delivery log."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

from ml_connector.connectors.intacct._xml import format_value
from ml_connector.connectors.sps import delivery, rsx
from ml_connector.engine import Page, Run
from ml_connector.engine.pages import record_page
from ml_connector.flows.intacct_to_sps import intacct_to_sps
from ml_connector.flows.qbo_to_sps import qbo_to_sps
from ml_connector.ledger.schema import POSTED, SKIPPED
from ml_connector.runtime.tenant import tenant
from ml_connector.tasks.sps import outbox_path
from tests.flows.test_sps_delivery_honest import later
from tests.flows.test_sps_qbo_flows import TENANT, qworld_factory  # noqa: F401 - a fixture

QBO_OUT, INTACCT_OUT = "qbo-sps", "intacct-sps"
PARTNER = "ACMEDIST0001"


def received(sps) -> list[tuple[str, str, str, Decimal | None]]:
    """What the retailers received, in order: (path, purpose code, number, total)."""
    out = []
    for d in sps.deliveries():
        for doc_type, doc in rsx.parse(d.content, filename=d.path.rsplit("/", 1)[-1]):
            header = doc.header.invoice_header if doc_type == "invoice" else doc.header.shipment_header
            number = header.invoice_number if doc_type == "invoice" else header.shipment_identification
            out.append((d.path, header.tset_purpose_code, number, doc.summary.total_amount))
    return out


def change_quantity(w, inv: dict, qty: int) -> dict:
    """Edit a QBO invoice's line as a person does (SyncToken + 1)."""
    line = {"DetailType": "SalesItemLineDetail", "Amount": format(Decimal("4.25") * qty, "f"),
            "SalesItemLineDetail": {"ItemRef": {"value": w.mapping.qbo.items["WID-100"]}, "Qty": str(qty),
                                    "UnitPrice": "4.25"}}
    return w.qbo.edit("Invoice", inv["Id"], Line=[line])


def qrun():
    state = qbo_to_sps(tenant=TENANT, return_state=True)
    assert state.is_completed(), state.message
    return state.result()


# -- QuickBooks Online -> SPS -------------------------------------------------------------------

def test_an_edited_qbo_invoice_goes_out_as_a_replacement_under_its_own_name(qworld_factory):  # noqa: F811
    w = qworld_factory()
    w.sps.pickup_after = 0
    inv = w.invoice("INV-R1")
    qrun()
    change_quantity(w, inv, 10)
    counts = qrun()
    first, second = outbox_path("invoice", PARTNER, "INV-R1"), "in/IN_ACMEDIST0001_INV-R1-2.xml"
    assert received(w.sps) == [(first, "00", "INV-R1", Decimal("8.50")), (second, "05", "INV-R1", Decimal("42.50"))]
    assert w.sps.delivered_twice() == {} and counts["posted"] == 1
    [row] = tenant(TENANT).ledger.latest_revisions(QBO_OUT)
    assert (row.revision, row.applied_revision, row.status, row.target_id) == (2, 2, POSTED, second)
    assert qrun()["posted"] == 0  # read again in the CDC overlap: nothing new
    assert len(w.sps.deliveries()) == 2


def test_an_edit_the_retailer_would_not_see_sends_nothing(qworld_factory):  # noqa: F811
    w = qworld_factory()
    w.sps.pickup_after = 0
    inv = w.invoice("INV-M1")
    qrun()
    w.qbo.edit("Invoice", inv["Id"], PrivateNote="called the buyer")  # SyncToken 1, same RSX
    assert qrun()["posted"] == 0 and len(w.sps.deliveries()) == 1
    [row] = tenant(TENANT).ledger.latest_revisions(QBO_OUT)
    assert row.revision == 1 and not row.stale


def test_a_voided_and_a_deleted_qbo_invoice_are_sent_as_cancellations_of_what_was_sent(qworld_factory):  # noqa: F811
    w = qworld_factory()
    w.sps.pickup_after = 0
    voided, deleted = w.invoice("INV-V1"), w.invoice("INV-D1")
    qrun()
    w.qbo.void("Invoice", voided["Id"])
    w.qbo.remove("Invoice", deleted["Id"])
    counts = qrun()
    assert counts["posted"] == 2
    cancels = sorted(r for r in received(w.sps) if r[1] == "01")
    # the cancellation names the invoice with what the retailer holds (not QBO's zeroed void)
    assert cancels == [("in/IN_ACMEDIST0001_INV-D1-2.xml", "01", "INV-D1", Decimal("8.50")),
                       ("in/IN_ACMEDIST0001_INV-V1-2.xml", "01", "INV-V1", Decimal("8.50"))]
    assert w.sps.delivered_twice() == {}
    latest = tenant(TENANT).ledger.latest_revisions(QBO_OUT)
    assert {(r.natural_key, r.effect, r.applied_revision) for r in latest} == {("INV-V1", "cancel", 2),
                                                                             ("INV-D1", "cancel", 2)}
    assert qrun()["posted"] == 0 and len(w.sps.deliveries()) == 4


def test_an_invoice_voided_before_it_was_ever_sent_sends_nothing(qworld_factory):  # noqa: F811
    w = qworld_factory()
    w.sps.pickup_after = 0
    inv = w.invoice("INV-V0")
    w.qbo.void("Invoice", inv["Id"])
    counts = qrun()
    assert counts["posted"] == 0 and w.sps.deliveries() == [] and w.sps.history() == []
    [row] = tenant(TENANT).ledger.documents(QBO_OUT)
    assert row.status == SKIPPED and "cancelled before" in row.last_error


def test_an_older_qbo_version_read_after_a_newer_one_is_superseded(qworld_factory):  # noqa: F811
    from ml_connector.pipelines.qbo_sps import PIPELINE
    from ml_connector.tasks.qbo import read_invoices

    w = qworld_factory()
    w.sps.pickup_after = 0
    inv = w.invoice("INV-O1")
    [old] = read_invoices.fn(TENANT, [inv["Id"]])
    w.qbo.edit("Invoice", inv["Id"], TrackingNum="1Z999")
    qrun()  # sends SyncToken 1 as the original
    assert record_page.fn(PIPELINE, Run(TENANT, QBO_OUT, "late-webhook"), Page([old])).new_ids == []
    assert qrun()["posted"] == 0
    assert [r[1] for r in received(w.sps)] == ["00"] and len(w.sps.deliveries()) == 1
    [row] = tenant(TENANT).ledger.latest_revisions(QBO_OUT)
    assert row.revision == 1 and not row.stale
    states = [h.state for h in tenant(TENANT).ledger.revisions_of(row.id)]
    assert "superseded" in states


def _dead_run_with_revision_2(w):
    """Revision 2 of an invoice claimed by a run that died between its intent and its outcome."""
    from ml_connector.pipelines.qbo_sps import PIPELINE
    from ml_connector.tasks.qbo import read_invoices

    inv = w.invoice("INV-K1")
    qrun()
    edited = change_quantity(w, inv, 5)
    ledger = tenant(TENANT).ledger
    record_page.fn(PIPELINE, Run(TENANT, QBO_OUT, "dead-run"), Page(read_invoices.fn(TENANT, [edited["Id"]])))
    [claimed] = ledger.claim(QBO_OUT, ledger.pending_ids(QBO_OUT), "dead-run")
    assert claimed.revision == 2 and claimed.effect == "update"
    return claimed


def test_a_revision_whose_upload_a_killed_run_made_is_found_in_sps_not_sent_again(qworld_factory):  # noqa: F811
    from ml_connector.tasks.qbo import build_invoice
    from ml_connector.tasks.qbo_master import effective_mapping

    w = qworld_factory()
    w.sps.pickup_after = 0
    claimed = _dead_run_with_revision_2(w)
    path, content = build_invoice(claimed, effective_mapping(tenant(TENANT)))
    tenant(TENANT).sps().put(path, content)  # it reached SPS, which passed it on; the run died
    counts = qrun()
    assert counts["recovered_requeued"] == 1 and counts["delivery_confirmed"] == 1 and counts["posted"] == 1
    assert Counter(d.path for d in w.sps.deliveries()) == Counter({outbox_path("invoice", PARTNER, "INV-K1"): 1,
                                                                   "in/IN_ACMEDIST0001_INV-K1-2.xml": 1})


def test_a_revision_a_killed_run_never_uploaded_is_not_taken_for_its_predecessor(qworld_factory,  # noqa: F811
                                                                                 monkeypatch):
    w = qworld_factory()
    w.sps.pickup_after = 0
    _dead_run_with_revision_2(w)
    # Revision 1's file is in SPS's history; revision 2's is not: the check is per revision.
    counts = qrun()
    assert counts["recovered_requeued"] == 1 and counts["delivery_confirmed"] == 0 and counts["delivery_unknown"] == 1
    later(monkeypatch, delivery.history_lag() + 60)
    counts = qrun()
    assert counts["posted"] == 1
    assert [(r[0], r[1]) for r in received(w.sps)] == [(outbox_path("invoice", PARTNER, "INV-K1"), "00"),
                                                       ("in/IN_ACMEDIST0001_INV-K1-2.xml", "05")]
    assert w.sps.delivered_twice() == {}


# -- Sage Intacct -> SPS ------------------------------------------------------------------------

def edit_ar_invoice(intacct, record_id: str, *, factor: Decimal | None = None, state: str | None = None,
                    when: datetime) -> None:
    """Change an AR invoice in the emulated company as a person does (lines or state), stamping
    WHENMODIFIED as Intacct does."""
    with intacct.lock:
        [(recordno, record)] = [(k, r) for k, r in intacct.store.tables["ARINVOICE"].items()
                                if r["RECORDID"] == record_id]
        if factor is not None:
            total = Decimal(0)
            for line in intacct.store.items[("ARINVOICE", recordno)]:
                amount = Decimal(line["TRX_AMOUNT"]) * factor
                line["TRX_AMOUNT"] = line["AMOUNT"] = format(amount, "f")
                total += amount
            for field in ("TOTALENTERED", "TRX_TOTALENTERED", "TOTALDUE", "TRX_TOTALDUE"):
                record[field] = format(total, "f")
        if state is not None:
            record["STATE"] = state
        record["WHENMODIFIED"] = format_value(when.astimezone(UTC).replace(tzinfo=None))


def irun():
    state = intacct_to_sps(tenant="demo", return_state=True)
    assert state.is_completed(), state.message
    return state.result()


def test_an_edited_ar_invoice_is_replaced_and_a_reversed_one_cancelled(world):
    world.sps.pickup_after = 0
    world.add_ar_invoices(3)
    irun()
    sent = {r[2]: r for r in received(world.sps)}
    (partner_a, edited), (partner_b, reversed_) = sorted(world.seeded.expected_invoices)[:2]
    now = datetime.now(UTC)
    edit_ar_invoice(world.intacct, edited, factor=Decimal(2), when=now)
    edit_ar_invoice(world.intacct, reversed_, state="Reversed", when=now)
    counts = irun()
    assert counts["posted"] == 2
    late = {(r[0], r[1], r[2]): r[3] for r in received(world.sps)[len(sent):]}
    assert late == {(f"in/IN_{partner_a}_{edited}-2.xml", "05", edited): sent[edited][3] * 2,
                    (f"in/IN_{partner_b}_{reversed_}-2.xml", "01", reversed_): sent[reversed_][3]}
    assert world.sps.delivered_twice() == {}
    assert irun()["posted"] == 0  # read again in the overlap: old news


def test_a_payment_applied_in_intacct_sends_nothing(world):
    world.sps.pickup_after = 0
    world.add_ar_invoices(1)
    [(_, number)] = world.seeded.expected_invoices
    irun()
    edit_ar_invoice(world.intacct, number, state="Paid", when=datetime.now(UTC))
    assert irun()["posted"] == 0 and len(world.sps.deliveries()) == 1


def test_an_older_ar_invoice_version_read_late_is_superseded(world):
    from ml_connector.connectors.intacct.models import ArInvoice
    from ml_connector.pipelines.intacct_sps import PIPELINE

    world.sps.pickup_after = 0
    world.add_ar_invoices(1)
    [(partner, number)] = world.seeded.expected_invoices
    irun()
    [row] = world.ledger.documents(INTACCT_OUT)
    old = ArInvoice.model_validate_json(row.raw_payload)
    edit_ar_invoice(world.intacct, number, factor=Decimal(3), when=datetime.now(UTC))
    irun()
    stale = old.model_copy(update={"total": old.total + 1})  # another content, older stamp
    assert record_page.fn(PIPELINE, Run("demo", INTACCT_OUT, "late-read"), Page([stale])).new_ids == []
    assert irun()["posted"] == 0
    assert [r[1] for r in received(world.sps)] == ["00", "05"]
    [latest] = world.ledger.latest_revisions(INTACCT_OUT)
    assert latest.revision == 2 and latest.applied_revision == 2 and not latest.stale
    assert "superseded" in [h.state for h in world.ledger.revisions_of(latest.id)]
    assert latest.target_id == f"in/IN_{partner}_{number}-2.xml"


# -- Sage Intacct inventory shippers -> RSX Shipment (856) ---------------------------------------

def add_shipper(intacct, doc_id: str, customer: str | None, lines: list[tuple[str, str]], when: datetime,
                po_number: str = "CPO-7") -> None:
    """An Inventory Shipper as Intacct holds one after create_ictransaction (stock already taken)."""
    stamp = when.astimezone(UTC).replace(tzinfo=None)
    rows = [{"ITEMID": item, "QUANTITY": qty, "WAREHOUSEID": "WH1", "CUSTOMERID": customer or "", "UNIT": "Each"}
            for item, qty in lines]
    with intacct.lock:
        intacct.store.insert("INVDOCUMENT", {"DOCID": doc_id, "DOCNO": doc_id.rsplit("-", 1)[-1],
                                             "DOCPARID": "Inventory Shipper", "STATE": "Pending",
                                             "WHENCREATED": stamp.date(), "WHENMODIFIED": stamp,
                                             "PONUMBER": po_number}, rows)


def test_an_intacct_shipper_goes_to_its_customer_s_partner_as_an_rsx_shipment_and_a_change_replaces_it(world):
    world.sps.pickup_after = 0
    partner, spec = next((p, s) for p, s in world.mapping.partners.items() if s.customer_id)
    item = world.mapping.items[0]
    now = datetime.now(UTC)
    add_shipper(world.intacct, "Inventory Shipper-1", spec.customer_id, [(item.item_id, "6")], now)
    counts = irun()
    assert counts["posted"] == 1
    [(path, purpose, number, _)] = [r for r in received(world.sps) if r[0].startswith("in/SH_")]
    assert (path, purpose, number) == (f"in/SH_{partner}_Inventory_Shipper-1.xml", "00", "Inventory Shipper-1")
    [d] = [d for d in world.sps.deliveries() if d.path == path]
    [(_, shipment)] = rsx.parse(d.content, filename="SH.xml")
    [(order, line)] = shipment.item_lines()
    assert order.order_header.purchase_order_number == "CPO-7" and line.ship_qty == Decimal(6)
    assert line.buyer_part_number == item.buyer_part and line.vendor_part_number == item.item_id
    assert irun()["posted"] == 0  # read again: nothing new
    with world.intacct.lock:  # a person corrects the quantity on the shipper
        [(key, record)] = [(k, r) for k, r in world.intacct.store.tables["INVDOCUMENT"].items()
                           if r["DOCID"] == "Inventory Shipper-1"]
        world.intacct.store.items[("INVDOCUMENT", key)][0]["QUANTITY"] = "5"
        record["WHENMODIFIED"] = format_value(datetime.now(UTC).replace(tzinfo=None))
    assert irun()["posted"] == 1
    replaced = [r for r in received(world.sps) if r[0] == f"in/SH_{partner}_Inventory_Shipper-1-2.xml"]
    assert [r[1] for r in replaced] == ["05"] and world.sps.delivered_twice() == {}


def test_an_intacct_shipper_to_no_customer_is_quarantined_with_the_reason(world):
    world.sps.pickup_after = 0
    add_shipper(world.intacct, "Inventory Shipper-9", None, [(world.mapping.items[0].item_id, "1")],
                datetime.now(UTC))
    state = intacct_to_sps(tenant="demo", return_state=True)
    assert state.is_failed() and "Intacct shipper Inventory Shipper-9: its lines name none as customer" in state.message
    [row] = world.ledger.documents(INTACCT_OUT, doc_type="shipment")
    assert row.status == "quarantined" and world.sps.deliveries() == []
