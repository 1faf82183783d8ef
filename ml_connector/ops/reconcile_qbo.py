"""Reconciliation for SPS <-> QuickBooks Online (used by ops/reconcile.py).

* sps-qbo: every order the ledger says should be a PO (not quarantined or skipped) against
  QBO's purchase orders of the mapped vendors, by DocNumber.
* qbo-sps: every QBO invoice of a mapped customer against the ledger's record of what was
  sent to SPS (SPS deletes processed files, so the ledger is the evidence), by (partner, number).
"""

from __future__ import annotations

import pandas as pd

from ..ledger.schema import QUARANTINED, SKIPPED
from ..mappings.qbo_to_sps import invoice_number


def qbo_frames(res, integration: str) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    client, qbo = res.qbo(), res.mapping.qbo
    if integration == "sps-qbo":
        rows = [r for r in res.ledger.documents("sps-qbo", doc_type="order") if r.status not in (QUARANTINED, SKIPPED)]
        source = pd.DataFrame([{"doc_number": r.target_ref or r.natural_key} for r in rows], columns=["doc_number"])
        vendors = {p.vendor_ref for p in qbo.partners.values()}
        pos = [po for po in client.iter_query("PurchaseOrder") if po.vendor_ref and po.vendor_ref.value in vendors]
        target = pd.DataFrame([{"doc_number": po.doc_number} for po in pos], columns=["doc_number"])
        return source, target, ["doc_number"]
    invoices = list(client.iter_query("Invoice"))
    source = pd.DataFrame([{"partner": qbo.partner_for_customer(i.customer_ref.value), "invoice": invoice_number(i)}
                           for i in invoices if i.customer_ref and qbo.partner_for_customer(i.customer_ref.value)],
                          columns=["partner", "invoice"])
    sent = res.ledger.documents("qbo-sps", status="posted", doc_type="invoice")
    target = pd.DataFrame([{"partner": r.partner, "invoice": r.natural_key} for r in sent], columns=["partner", "invoice"])
    return source, target, ["partner", "invoice"]
