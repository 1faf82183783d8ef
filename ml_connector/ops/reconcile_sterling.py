"""Reconciliation frames for Intacct -> Sterling: what the ledger says went out, against what
the partners' Sterling Inboxes hold (each X12 message parsed, one row per transaction set)."""

from __future__ import annotations

import pandas as pd

from ..connectors import x12
from ..connectors.errors import BadDocument
from ..connectors.sterling import partner_inbox
from ..ledger.schema import POSTED
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
    """intacct-sterling: ledger documents posted vs documents found in the partners' Inboxes."""
    from ..runtime.clients import sterling_client as sterling

    sent = [r for r in res.ledger.documents("intacct-sterling", status=POSTED) if r.doc_type in ("810", "850")]
    source = pd.DataFrame([{"partner": r.partner, "doc_type": r.doc_type, "number": r.natural_key} for r in sent],
                          columns=KEY)
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
                    found.append({"partner": cfg.partner_name, "doc_type": ts.id, "number": number})
    return Frames(source, pd.DataFrame(found, columns=KEY), KEY)
