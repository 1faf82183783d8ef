"""Reconciliation for SPS <-> QuickBooks Online (used by ops/reconcile.py).

* sps-qbo: every order the ledger says should be a PO (not quarantined or skipped) against
  QBO's purchase orders of the mapped vendors, by DocNumber.
* qbo-sps: every QBO invoice of a mapped customer, and every shipment one confirms (its
  ShipDate is set), against the ledger's record of what was sent to SPS (SPS deletes processed
  files, so the ledger is the evidence), by (document type, partner, number).

Vendor links come from the effective mapping (the tenant file plus the vendors the master-data
sync onboarded), so an onboarded partner's purchase orders are not reported missing.
"""

from __future__ import annotations

import pandas as pd

from ..ledger.schema import QUARANTINED, SKIPPED
from ..mappings.qbo_to_sps import invoice_number, is_shipment
from ..tasks.qbo_master import effective_mapping
from .reconcile import Frames


def sps_qbo_frames(res) -> Frames:
    """Orders the ledger says should be purchase orders against the mapped vendors' POs; a PO
    closed without a bill receiving it is cancelled there (a cancellation closes it)."""
    client, qbo = res.qbo(), effective_mapping(res).qbo
    rows = [r for r in res.ledger.documents("sps-qbo", doc_type="order") if r.status not in (QUARANTINED, SKIPPED)]
    source = pd.DataFrame([{"doc_number": r.target_ref or r.natural_key, "ledger_id": r.id} for r in rows],
                          columns=["doc_number", "ledger_id"])
    vendors = {p.vendor_ref for p in qbo.partners.values()}
    pos = [po for po in client.iter_query("PurchaseOrder") if po.vendor_ref and po.vendor_ref.value in vendors]
    target = pd.DataFrame([{"doc_number": po.doc_number, "cancelled": _closed(po)} for po in pos],
                          columns=["doc_number", "cancelled"])
    return Frames(source, target, ["doc_number"])


def qbo_sps_frames(res) -> Frames:
    """QBO invoices of mapped customers (and the shipments they confirm) against what the ledger
    sent to SPS; a voided invoice's latest revision there is a cancellation."""
    client, qbo = res.qbo(), effective_mapping(res).qbo
    source_rows = []
    for inv in client.iter_query("Invoice"):
        partner = inv.customer_ref and qbo.partner_for_customer(inv.customer_ref.value)
        if not partner:
            continue
        number = invoice_number(inv)
        source_rows.append({"doc_type": "invoice", "partner": partner, "number": number})
        if is_shipment(inv):
            source_rows.append({"doc_type": "shipment", "partner": partner, "number": number})
    columns = ["doc_type", "partner", "number"]
    source = pd.DataFrame(source_rows, columns=columns)
    sent = res.ledger.documents("qbo-sps", status="posted")
    target = pd.DataFrame([{"doc_type": r.doc_type, "partner": r.partner, "number": r.natural_key} for r in sent],
                          columns=columns)
    return Frames(source, target, columns)


def _closed(po) -> bool:
    """Closed by a cancellation: a PO a bill received is Closed too, but lists that bill."""
    return str(po.po_status or "").lower() == "closed" and not po.linked_txn
