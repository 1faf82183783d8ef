"""Whether a target takes a posted document sent again on purpose without doubling it.

Each rule takes a ledger document row (or a :class:`~ml_connector.ledger.store.Claimed`: both
have ``id``, ``doc_type``, ``partner``, ``natural_key``, ``target_ref`` and ``target_id``) and
returns None (resend it) or one line naming the document and why it is refused. A pipeline
names its rule as ``Pipeline.resend``; ``replay --resend`` asks it before the ledger moves
anything. The facts behind each rule, with their sources, are in docs/resend.md.
"""

from __future__ import annotations

from typing import Any

# Files SPS takes from in/ whose resend goes out under a name of its own (tasks/sps.revision_path):
# a new transaction to the retailer, which is what a resend of a lost document is for.
SPS_RESENT_UNDER_NEW_NAME = ("invoice", "shipment")

# Commerce order to cash: what each document type is in Intacct. Items and customers that exist
# are linked, not created again; every other type is a transaction of its own.
O2C_TRANSACTIONS = {"order": "AR invoice", "payment": "AR payment", "creditmemo": "AR adjustment",
                    "shipment": "inventory transaction"}


def named(doc: Any) -> str:
    """``document 42 (invoice WALMART INV-1)``: how a refusal names a document."""
    who = " ".join(part for part in (doc.doc_type, doc.partner, doc.natural_key) if part)
    return f"document {doc.id} ({who})"


def sps_new_file(doc: Any) -> str | None:
    """SPS -> retailer (intacct-sps, qbo-sps): an invoice or ship notice resent goes to ``in/``
    under a name of its own and SPS passes it on as a new transaction; other RSX documents
    would go out under the name they were first sent with, which SPS's history already holds,
    so a lost upload answer could not be told from the first delivery."""
    if doc.doc_type in SPS_RESENT_UNDER_NEW_NAME:
        return None
    return (f"{named(doc)}: a resent {doc.doc_type} would reuse the SPS file name it was first sent under, "
            "and a lost upload could not be told from the first delivery: not resent")


def intacct_bill_in_place(doc: Any) -> str | None:
    """SPS -> Intacct AP bills: a resend rewrites the bill Intacct holds (an update of its
    RECORDNO, mappings/sps_rows.sink_effect); without a RECORDNO it would be a second create,
    and bills created through the API are not checked for a duplicate bill number."""
    if doc.target_id:
        return None
    return (f"{named(doc)}: no Intacct RECORDNO is recorded for its bill, so a resend would create the bill again "
            "and double the payable: not resent")


def qbo_po_by_number(doc: Any) -> str | None:
    """SPS -> QBO purchase orders: the post step looks a PO up by DocNumber and vendor before
    creating it and updates the one it finds with its SyncToken (tasks/qbo.write_pos); a
    revision of a PO in QBO is an update of its Id. A resend rewrites the PO, never a second."""
    return None


def commerce_ap_creates(doc: Any) -> str | None:
    """Commerce -> Intacct procure: every document is written as a create (an AP bill, a
    purchase order transaction, an AP adjustment) under its idempotency key; a resend's new
    key is a second create, and API-created bills are not checked for a duplicate number."""
    made = (doc.target_ref or "").replace(":", " ", 1) or "its Intacct record"
    return f"{named(doc)}: a resend would create {made} in Intacct a second time: not resent"


def o2c_transactions(doc: Any) -> str | None:
    """Commerce -> Intacct order to cash: an item or customer that exists is linked, not
    created again (a resend re-links it); an AR invoice, payment, adjustment or inventory
    transaction is a create under the resend's new key: a second transaction."""
    what = O2C_TRANSACTIONS.get(doc.doc_type)
    if what is None:
        return None
    return f"{named(doc)}: a resend would create a second {what} in Intacct: not resent"


def x12_new_controls(doc: Any) -> str | None:
    """Intacct -> Sterling: an 810/850 resent goes out as a new interchange under control numbers
    of its own (ledger/x12_controls.py assigns new ones per revision and per resend, and keeps the
    earlier interchange as an ``x12_superseded`` event), so the partner receives a new
    transmission, not a duplicate interchange. A trading partner is created in Sterling, not sent
    to anyone: refused."""
    if doc.doc_type in ("810", "850"):
        return None
    return f"{named(doc)}: a trading partner is set up in Sterling, not sent to a partner: nothing to resend"


def nothing_sent(doc: Any) -> str | None:
    """Sterling inbound: a 997 or an inbound X12 is applied to the ledger; nothing is sent."""
    return f"{named(doc)}: an inbound message is applied here, nothing is sent to a partner: nothing to resend"
