"""SPS <-> QuickBooks Online as ledger rows (pure): what an SPS file and a QBO invoice become,
which invoices webhook notifications name, and where the live CDC read starts."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ml_connector.connectors.qbo.models import Invoice
from ml_connector.ledger.keys import payload_hash
from ml_connector.ledger.schema import QUARANTINED, RECEIVED, SKIPPED
from ml_connector.ledger.store import Claimed
from ml_connector.mappings.qbo_to_sps import named_invoices
from ml_connector.mappings.sps_to_qbo import order_rows, remap_order
from ml_connector.mappings.tenant import load_tenant
from ml_connector.pipelines.qbo_sps import OVERLAP, cdc_start, invoice_rows

FIXTURES = Path(__file__).parents[1] / "fixtures"
GOLDEN = FIXTURES / "golden" / "qbo"
TENANT = load_tenant(GOLDEN / "tenant.yaml")


def claimed_of(row, id_: int = 1) -> Claimed:
    return Claimed(id=id_, doc_type=row.doc_type, partner=row.partner, natural_key=row.natural_key,
                   source_ref=row.source_ref, raw_payload=row.raw_payload, idempotency_key="k",
                   target_ref=row.target_ref, attempts=1)


def test_each_order_of_a_file_is_a_row_and_only_those_that_map_carry_a_purchase_order():
    content = (FIXTURES / "sps" / "PO_multi_3orders.xml").read_bytes()
    rows, pos = order_rows("out/PO_multi_3orders.xml", content, TENANT)
    assert [(r.natural_key, r.status) for r in rows] == [
        ("PO900001", RECEIVED), ("PO900002", QUARANTINED), ("PO900003", QUARANTINED)]
    assert [r.source_ref for r in rows] == [f"out/PO_multi_3orders.xml#{n}" for n in range(3)]
    assert "unknown item 'SPSSupplierHD-21'" in rows[1].last_error
    assert "unknown trading partner 'GLOBEXRETAIL01'" in rows[2].last_error
    assert list(pos) == [("order", "SPSALLTESTID", "PO900001")]
    digest, po = pos[("order", "SPSALLTESTID", "PO900001")]
    assert digest == payload_hash(content)
    assert rows[0].target_ref == po.doc_number == "PO900001"
    # what the post step maps again from the ledger (no payload handed over) is the same PO
    assert remap_order(claimed_of(rows[0]), TENANT) == po


def test_invoices_and_shipments_from_sps_are_skipped_and_an_unreadable_file_is_quarantined():
    rows, pos = order_rows("out/IN300001.xml", (FIXTURES / "sps" / "IN300001.xml").read_bytes(), TENANT)
    assert [r.status for r in rows] == [SKIPPED] and pos == {}
    assert rows[0].last_error == "invoice is routed nowhere in sps-qbo"
    [bad], pos = order_rows("out/PO9.xml", b"<Orders><Order>", TENANT)
    assert bad.status == QUARANTINED and bad.doc_type == "unreadable" and pos == {}
    assert bad.raw_payload == b"<Orders><Order>" and bad.last_error and "\n" not in bad.last_error


def invoice(name: str, **changes) -> Invoice:
    data = json.loads((GOLDEN / name).read_text())
    return Invoice.model_validate({**data.get("Invoice", data), **changes})


def test_a_shipped_invoice_is_an_invoice_and_a_shipment_and_an_unmapped_customer_is_quarantined():
    rows = invoice_rows(invoice("invoice_shipped.json"), TENANT)
    assert [(r.doc_type, r.partner, r.natural_key, r.status) for r in rows] == [
        ("invoice", "SPSALLTESTID", "INV-1037", RECEIVED), ("shipment", "SPSALLTESTID", "INV-1037", RECEIVED)]
    assert [r.target_ref for r in rows] == ["in/IN_SPSALLTESTID_INV-1037.xml", "in/SH_SPSALLTESTID_INV-1037.xml"]
    [unshipped] = invoice_rows(invoice("invoice_unshipped.json"), TENANT)
    assert unshipped.doc_type == "invoice" and unshipped.status == RECEIVED
    [stranger] = invoice_rows(invoice("invoice_shipped.json", CustomerRef={"value": "999"}), TENANT)
    assert (stranger.status, stranger.partner) == (QUARANTINED, "customer:999")


def test_notifications_name_the_invoices_to_read_once_each():
    def note(payload: dict) -> Claimed:
        return Claimed(id=1, doc_type="notification", partner="r", natural_key="e", source_ref="",
                       raw_payload=json.dumps(payload).encode(), idempotency_key="k", target_ref=None, attempts=1)

    notes = [note({"entity": "Invoice", "id": "12", "operation": "Update"}),
             note({"entity": "Invoice", "id": "12", "operation": "Create"}),
             note({"entity": "Invoice", "id": "3", "operation": "Create"}),
             note({"entity": "Invoice", "id": "4", "operation": "Void"}),
             note({"entity": "Invoice", "id": "6", "operation": "Delete"}),
             note({"entity": "Vendor", "id": "5", "operation": "Create"})]
    # a voided invoice is read back (zeroed, "Voided") to cancel what was sent; a deleted one
    # cannot be read and comes as the CDC stub instead (deleted_invoices)
    assert named_invoices(notes) == ["12", "3", "4"]


def test_the_cdc_read_starts_an_overlap_before_the_cursor_and_never_beyond_30_days(caplog):
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    oldest = now - timedelta(days=30) + OVERLAP
    assert cdc_start(None, now) == oldest + OVERLAP  # a first run: as far back as CDC reaches
    cursor = now - timedelta(hours=1)
    assert cdc_start(cursor.isoformat(), now) == cursor - OVERLAP
    with caplog.at_level(logging.WARNING):
        assert cdc_start((now - timedelta(days=40)).isoformat(), now) == oldest
    assert "older than the 30-day CDC window" in caplog.text
