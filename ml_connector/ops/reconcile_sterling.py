"""Reconciliation frames for Intacct -> Sterling: what the ledger says went out, against what
the partners' Sterling Inboxes hold (each X12 message parsed, one row per transaction set)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from ..connectors import x12
from ..connectors.errors import BadDocument
from ..connectors.sterling import partner_inbox
from ..ledger.schema import POSTED
from ..mappings.intacct_sterling import partner_holds, record_amount, x12_amount
from ..runtime.tenant import Tenant
from .reconcile import Frames

KEY = ["partner", "doc_type", "number"]


def inbound_frames(res: Tenant) -> Frames:
    """sterling-inbound: every message read is in the ledger, so it is compared with itself (its
    documents' revisions are still judged against the ledger)."""
    rows = [{"partner": r.partner, "doc_type": r.doc_type, "number": r.natural_key}
            for r in res.ledger.documents("sterling-inbound")]
    frame = pd.DataFrame(rows, columns=KEY)
    return Frames(frame, frame.copy(), KEY)


def sterling_frames(res: Tenant) -> Frames:
    """intacct-sterling: ledger documents posted, with their latest revision's total, against
    what each partner holds: every document's latest interchange, cancelled when its purpose is
    01, with its total (``mappings.intacct_sterling.partner_holds``; the same interchange found
    twice is one more row, a duplicate)."""
    from ..runtime.clients import sterling_client as sterling

    sent = [r for r in res.ledger.documents("intacct-sterling", status=POSTED) if r.doc_type in ("810", "850")]
    source = pd.DataFrame([{"partner": r.partner, "doc_type": r.doc_type, "number": r.natural_key, "ledger_id": r.id,
                            "amount": _latest_amount(r)} for r in sent], columns=[*KEY, "ledger_id", "amount"])
    client, found = sterling(res), []
    for cfg in (res.mapping.sterling.partners.values() if res.mapping.sterling else []):
        for message in client.list_messages(partner_inbox(cfg.partner_name)):
            try:
                ic = x12.parse(client.download_message(message))
            except BadDocument:
                continue
            for group in ic.groups:
                for ts in group.sets:
                    doc = x12.decode_document(ts)
                    number = getattr(doc, "invoice_number", None) or getattr(doc, "po_number", None)
                    found.append({"partner": cfg.partner_name, "doc_type": ts.id, "number": number,
                                  "purpose": getattr(doc, "purpose", None), "interchange": ic.control_number,
                                  "amount": _amount_of(doc)})
    target = pd.DataFrame(partner_holds(found), columns=[*KEY, "cancelled", "amount"])
    return Frames(source, target, KEY)


def _latest_amount(row) -> Decimal | None:
    """The total of a posted document's latest content (None: a cancellation, or a payload pruned)."""
    if not row.raw_payload or row.effect == "cancel":
        return None
    try:
        return record_amount(row.doc_type, row.raw_payload)
    except (BadDocument, ValueError, KeyError, TypeError, ArithmeticError):
        return None


def _amount_of(doc) -> Decimal | None:
    try:
        return x12_amount(doc)
    except (AttributeError, TypeError, ArithmeticError):
        return None
