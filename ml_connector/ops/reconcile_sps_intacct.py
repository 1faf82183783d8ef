"""Reconciliation frames for SPS Commerce <-> Sage Intacct (see ops/reconcile.py).

* sps-intacct: every document the ledger says should be in Intacct (everything read that was
  not quarantined or routed nowhere), with its latest revision's bill total and whether it
  cancels the bill, against the APBILLs of the tenant's vendors by (vendor, bill number), each
  with its total and whether it is reversed (a reversed bill stays in the company, cancelled).
* intacct-sps: every Intacct AR invoice of a mapped customer against the ledger's record of
  what was sent to SPS (SPS deletes the files it processed, so the ledger is the evidence).
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from ..connectors.errors import BadDocument
from ..connectors.intacct.listing import EPOCH
from ..ledger.schema import QUARANTINED, SKIPPED
from ..mappings.sps_rows import remap_write
from ..mappings.sps_to_intacct import parse_bill_ref
from ..runtime.tenant import Tenant
from .reconcile import Frames

REVERSED = "Reversed"  # an APBILL's STATE once reverse_bill ran


def latest_total(row, mapping) -> Decimal | None:
    """The bill total of a ledger document's latest content (None: a cancellation, a pruned
    payload, or content that no longer maps: nothing to compare)."""
    if not row.raw_payload:
        return None
    try:
        write = remap_write(row.raw_payload, row.source_ref, mapping)
    except (BadDocument, ValueError, KeyError):
        return None
    return write.bill.total if write.bill is not None else None


def bills_frames(res: Tenant) -> Frames:
    rows = [(r, parse_bill_ref(r.target_ref)) for r in res.ledger.documents("sps-intacct")
            if r.status not in (QUARANTINED, SKIPPED) and r.target_ref]
    source = pd.DataFrame(
        [{"vendor": ref[0], "record_id": ref[1], "ledger_id": r.id, "status": r.status,
          "amount": latest_total(r, res.mapping)} for r, ref in rows if ref],
        columns=["vendor", "record_id", "ledger_id", "status", "amount"],
    )
    vendors = sorted({p.vendor_id for p in res.mapping.partners.values()})
    client = res.intacct()
    bills = client.list_bills(vendors)
    states = client.bill_states([b["RECORDNO"] for b in bills]) if bills else {}
    target = pd.DataFrame(
        [{"vendor": b["VENDORID"], "record_id": b["RECORDID"],
          "cancelled": states.get(b["RECORDNO"], {}).get("STATE") == REVERSED,
          "amount": _decimal(states.get(b["RECORDNO"], {}).get("TRX_TOTALENTERED"))} for b in bills],
        columns=["vendor", "record_id", "cancelled", "amount"])
    return Frames(source, target, ["vendor", "record_id"])


def invoices_frames(res: Tenant) -> Frames:
    mapped = {p.customer_id: pid for pid, p in res.mapping.partners.items() if p.customer_id}
    invoices = [inv for page in res.intacct().iter_ar_invoices(EPOCH, include_lines=False) for inv in page]
    source = pd.DataFrame([{"partner": mapped[i.customer_id], "invoice": i.record_id} for i in invoices
                           if i.customer_id in mapped], columns=["partner", "invoice"])
    sent = [r for r in res.ledger.documents("intacct-sps", status="posted", doc_type="invoice")]
    target = pd.DataFrame([{"partner": r.partner, "invoice": r.natural_key} for r in sent], columns=["partner", "invoice"])
    return Frames(source, target, ["partner", "invoice"])


def _decimal(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))
