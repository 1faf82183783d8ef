"""What a change at the source means for a document sent to SPS, and how RSX says it. Pure rules.

RSX carries the purpose of every document in its header's ``TsetPurposeCode`` (X12 element 353:
``00`` original, ``01`` cancellation, ``05`` replace). A document sent to SPS is a whole
document, never a delta, so a changed invoice goes out whole as a replacement (``05``) and a
cancelled one as the last content sent with ``01`` (docs/revisions-outbound-sps.md).

The source side:

- **QuickBooks Online** names its versions with the ``SyncToken`` ("0" on create, + 1 on every
  change). A deleted invoice reaches us as a CDC stub (only ``Id`` and ``status: Deleted``); a
  voided one keeps its number and customer but comes back with ``TotalAmt`` and ``Balance`` 0
  and "Voided" in ``PrivateNote``. Both are cancellations of what was sent for it.
- **Sage Intacct** stamps every change of a record with ``WHENMODIFIED``; a reversed AR invoice
  stays with ``STATE`` "Reversed" (cancelled), and the reversing entry itself ("Reversal") is
  the counter-document, nothing to send.
"""

from __future__ import annotations

import json
from datetime import UTC
from decimal import Decimal

from ..connectors.intacct.models import ArInvoice
from ..connectors.qbo.models import Invoice
from ..connectors.sps.models import RsxInvoice, RsxShipment
from ..ledger.revisions import CANCEL, CREATE, REPLACE, UPDATE

ORIGINAL, CANCELLATION, REPLACEMENT = "00", "01", "05"

# What the sink was told to do (Claimed.effect) -> the RSX purpose of the file sent for it.
PURPOSE = {CREATE: ORIGINAL, UPDATE: REPLACEMENT, REPLACE: REPLACEMENT, CANCEL: CANCELLATION}

# Intacct AR invoice states that cancel what was sent, and the one that is a reversal's
# counter-document (never sent on its own).
INTACCT_CANCELLED = frozenset({"Reversed", "Voided"})
INTACCT_REVERSAL = "Reversal"


def purpose_code(effect: str) -> str:
    """The TsetPurposeCode of the file that carries a write of ``effect``."""
    try:
        return PURPOSE[effect]
    except KeyError:
        raise ValueError(f"no RSX purpose for the effect {effect!r}") from None


def with_purpose(doc: RsxInvoice | RsxShipment, effect: str) -> RsxInvoice | RsxShipment:
    """``doc`` carrying the purpose of a write of ``effect`` in its header."""
    header = doc.header.invoice_header if isinstance(doc, RsxInvoice) else doc.header.shipment_header
    header.tset_purpose_code = purpose_code(effect)
    return doc


# -- QuickBooks Online ------------------------------------------------------------------------

def qbo_voided(inv: Invoice) -> bool:
    """Whether a QBO invoice read back is a voided one (QBO keeps it, zeroed, noted "Voided")."""
    note = str(getattr(inv, "private_note", None) or (inv.model_extra or {}).get("PrivateNote") or "")
    total = Decimal(str(inv.total_amt)) if inv.total_amt is not None else Decimal(0)
    return "void" in note.lower() and total == 0


def qbo_effect(inv: Invoice) -> str:
    """The effect of a QBO invoice as read: cancel (deleted or voided), create (SyncToken 0) or update."""
    if inv.deleted or qbo_voided(inv):
        return CANCEL
    return CREATE if (inv.sync_token or "0") == "0" else UPDATE


def qbo_version(inv: Invoice) -> str | None:
    """The invoice's order among its versions: its SyncToken (a delete stub has none)."""
    return inv.sync_token


def qbo_cancellation(sent: bytes, inv: Invoice) -> bytes:
    """The payload of a cancellation: the content last recorded for the invoice (what the
    retailer holds, so the cancellation names the same invoice, lines and total), marked with
    what cancelled it; a void carries its SyncToken as its version."""
    body = json.loads(sent)
    if inv.deleted:
        body["status"] = "Deleted"
    else:
        body.update(SyncToken=inv.sync_token, PrivateNote="Voided")
    return json.dumps(body, sort_keys=True).encode()


# -- Sage Intacct -----------------------------------------------------------------------------

def intacct_effect(inv: ArInvoice) -> str | None:
    """The effect of an AR invoice as read: cancel when reversed or voided, None for a reversal's
    counter-entry (nothing to send), else an update of the whole invoice (the first content of
    an invoice is written as the original whatever it is called)."""
    if inv.state == INTACCT_REVERSAL:
        return None
    if inv.state in INTACCT_CANCELLED:
        return CANCEL
    return UPDATE


def intacct_version(inv: ArInvoice) -> str:
    """WHENMODIFIED as one sortable text (UTC, microseconds): later changes sort after."""
    stamp = inv.when_modified
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")
