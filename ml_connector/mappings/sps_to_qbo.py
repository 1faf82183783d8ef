"""RSX Order -> QuickBooks Online PurchaseOrder. Pure functions: no I/O.

Rules:

* The trading partner decides the QBO vendor (``qbo.partners.<id>.vendor_ref``); an unknown
  partner, or one without a QBO vendor, rejects the document (quarantined with the reason).
* Every line resolves through the tenant's item cross-reference (buyer part, vendor part, then
  UPC) to our item id, then to the QBO item (``qbo.items``): an item-based expense line. An
  item we know but QBO does not is an account-based line on ``qbo.expense_account``; an item
  nobody knows rejects the whole document (a PO missing a line is the wrong order).
* Header charges and allowances become account-based lines on ``qbo.expense_account``
  (allowances negative).
* DocNumber is the SPS PO number (QBO allows 21 characters): the key a retry, an update and
  reconciliation find the PO by.
* Only orders map; invoices and shipments from SPS are routed nowhere in this integration.
* Revisions (docs/revisions-sps-qbo.md): the order's ``TsetPurposeCode`` says what QBO must do
  (:data:`PURPOSE_EFFECTS`: 00/06/07 create, 04 update, 05 replace, 01 cancel); a cancellation
  maps to the PO closed (``POStatus`` Closed, no lines: closing changes nothing else); a code
  none of those is a document for a person. A PO received in QBO (a bill linked to it), or
  closed when a change arrives, cannot take the revision: :func:`revision_blocker` says why.
  Each revision's write carries its idempotency key in ``PrivateNote`` (:func:`revision_body`),
  so the lookup after a lost answer knows whether that revision reached QBO.
* An SPS file becomes ledger rows (:func:`order_rows`): orders to post (mapped now, so a bad
  one is quarantined with the reason at once), the rest skipped, an unreadable file
  quarantined; nothing read is dropped.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from ..connectors.errors import BadDocument, one_line
from ..connectors.qbo.models import (
    AccountBasedExpenseLineDetail,
    ExpenseLine,
    ItemBasedExpenseLineDetail,
    PurchaseOrder,
    Ref,
)
from ..connectors.sps import rsx
from ..connectors.sps.models import ChargeAllowance, RsxOrder, natural_key
from ..ledger.keys import payload_hash
from ..ledger.store import Claimed, Incoming
from ..settings import max_document_bytes
from .identifiers import identifier
from .qbo_tenant import QboMapping, QboPartner
from .rsx_purpose import PURPOSE_EFFECTS
from .sps_rows import file_rows
from .sps_to_intacct import money
from .tenant import TenantMapping

OPERATION = "sps-qbo"
DOCNUMBER_MAX = 21
CLOSED = "Closed"
REVISION_MARK = "mlc-rev:"
# RSX TsetPurposeCode -> the ledger effect (reference sps_x12_sterling.md: 00 Original,
# 01 Cancellation, 04 Change, 05 Replace, 06 Confirmation, 07 Duplicate)


class NeedsPerson(BadDocument):
    """A document or revision QBO cannot take as it stands (a PO received or closed, a purpose
    code no rule applies): quarantined with the reason, for a person to act and replay it."""

    classification = "needs_person"


def _bad(message: str, code: str) -> BadDocument:
    return BadDocument(message, system="mapping", operation=OPERATION, code=code)


def qbo_section(tenant: TenantMapping) -> QboMapping:
    if tenant.qbo is None:
        raise _bad(f"tenant {tenant.tenant} has no qbo: section in its mapping file", "no-qbo-mapping")
    return tenant.qbo


def qbo_partner(partner_id: str, tenant: TenantMapping) -> QboPartner:
    partner = qbo_section(tenant).partners.get(partner_id)
    if partner_id not in tenant.partners:
        raise _bad(f"unknown trading partner {partner_id!r}: add it (and its qbo vendor_ref) to the tenant mapping file",
                   "unknown-partner")
    if partner is None or not partner.vendor_ref:
        raise _bad(f"trading partner {partner_id!r} has no QBO vendor yet: give it a qbo vendor_ref, or let the "
                   "qbo-master-data sync onboard it", "no-vendor")
    return partner


def routed(doc_type: str) -> bool:
    """Whether this integration maps the document type (only orders)."""
    return doc_type == "order"


def order_effect(doc: RsxOrder) -> str:
    """What the order's purpose code asks of QBO: create, update, replace or cancel; another
    code raises :class:`NeedsPerson`."""
    h = doc.header.order_header
    code = (h.tset_purpose_code or "00").strip()
    effect = PURPOSE_EFFECTS.get(code)
    if effect is None:
        raise NeedsPerson(f"PO {h.purchase_order_number.strip()}: purpose code {code!r} is none this integration "
                          "applies (00, 06, 07 original; 04 change; 05 replace; 01 cancellation): apply it in QBO "
                          "by hand", system="mapping", operation=OPERATION, code="unknown-purpose")
    return effect


def order_to_po(doc: RsxOrder, tenant: TenantMapping) -> PurchaseOrder:
    """The QBO PurchaseOrder (without Id/SyncToken) for one RSX order, or BadDocument saying why.
    A cancellation is the PO closed, without lines (its items need not map: closing sends only
    the status)."""
    h = doc.header.order_header
    qbo = qbo_section(tenant)
    partner = qbo_partner(h.trading_partner_id, tenant)
    number = identifier(h.purchase_order_number.strip(), "PO number")
    if not number or len(number) > DOCNUMBER_MAX:
        raise _bad(f"PO number {number!r} does not fit QBO's DocNumber (1-{DOCNUMBER_MAX} characters)", "bad-number")
    if order_effect(doc) == "cancel":
        return PurchaseOrder(vendor_ref=Ref(value=partner.vendor_ref), doc_number=number,  # type: ignore[arg-type]
                             po_status=CLOSED, private_note=f"sps:{h.trading_partner_id}:{number}")
    lines = [_item_line(li, n, tenant, qbo) for n, li in enumerate(doc.line_item)]
    lines += _charge_lines(doc.header.charges_allowances, qbo)
    name = tenant.partners[h.trading_partner_id].name
    return PurchaseOrder(
        vendor_ref=Ref(value=partner.vendor_ref),  # type: ignore[arg-type]
        ap_account_ref=Ref(value=qbo.ap_account) if qbo.ap_account else None,
        doc_number=number,
        txn_date=h.purchase_order_date,
        memo=f"SPS order {number} from {name}",
        private_note=f"sps:{h.trading_partner_id}:{number}",
        line=[ln.model_copy(update={"line_num": n}) for n, ln in enumerate(lines, start=1)],
    )


def _item_line(li, n: int, tenant: TenantMapping, qbo: QboMapping) -> ExpenseLine:
    ol = li.order_line
    where = f"line {ol.line_sequence_number or n + 1}"
    item = tenant.find_item(buyer_part=ol.buyer_part_number, vendor_part=ol.vendor_part_number,
                            upc=ol.consumer_package_code)
    if item is None:
        known = ol.buyer_part_number or ol.vendor_part_number or ol.consumer_package_code or "(no identifier)"
        raise _bad(f"{where}: unknown item {known!r} (no cross-reference by buyer part, vendor part or UPC)",
                   "unknown-item")
    qty, price = ol.order_qty, ol.purchase_price
    amount = money(qty * price)
    description = next((d.product_description for d in li.product_or_item_description if d.product_description),
                       item.item_id)
    qbo_item = qbo.items.get(item.item_id)
    if qbo_item is not None:
        return ExpenseLine(amount=amount, description=description, detail_type="ItemBasedExpenseLineDetail",
                           item_based_expense_line_detail=ItemBasedExpenseLineDetail(
                               item_ref=Ref(value=qbo_item), qty=qty, unit_price=price,
                               billable_status="NotBillable"))
    if qbo.expense_account is None:
        raise _bad(f"{where}: item {item.item_id} has no QBO item (qbo.items) and no qbo.expense_account is set",
                   "unknown-item")
    return _account_line(amount, f"{item.item_id} x {qty.normalize():f} @ {price}", qbo.expense_account)


def _account_line(amount: Decimal, description: str, account: str) -> ExpenseLine:
    return ExpenseLine(amount=amount, description=description, detail_type="AccountBasedExpenseLineDetail",
                       account_based_expense_line_detail=AccountBasedExpenseLineDetail(
                           account_ref=Ref(value=account), billable_status="NotBillable"))


def _charge_lines(charges: list[ChargeAllowance], qbo: QboMapping) -> list[ExpenseLine]:
    if charges and qbo.expense_account is None:
        raise _bad("the order has charges or allowances but no qbo.expense_account is set", "no-account")
    out = []
    for c in charges:
        allowance = c.allow_chrg_indicator == "A"
        amount = money(-abs(c.allow_chrg_amt) if allowance else abs(c.allow_chrg_amt))
        label = f"{'allowance' if allowance else 'charge'} {c.allow_chrg_code or ''}".strip()
        out.append(_account_line(amount, label, qbo.expense_account))  # type: ignore[arg-type]
    return out


def same_po(existing: PurchaseOrder, wanted: PurchaseOrder) -> bool:
    """Whether a PO already in QBO says what ``wanted`` says (vendor, total, line amounts), so a
    write would change nothing: recorded as posted without writing."""
    def amounts(po: PurchaseOrder) -> list[Decimal]:
        return sorted(money(Decimal(str(ln.amount))) for ln in po.line)

    vendor = existing.vendor_ref.value if existing.vendor_ref else None
    return vendor == (wanted.vendor_ref.value if wanted.vendor_ref else None) and amounts(existing) == amounts(wanted)


def revision_blocker(current: PurchaseOrder, wanted: PurchaseOrder) -> str | None:
    """Why the PO in QBO (``current``) cannot take the revision ``wanted`` automatically, in
    one line naming the PO and what to do; None when it can. A received PO (a bill linked to
    it) takes neither a change nor a cancellation; a closed one takes no change (closing it
    again is harmless)."""
    closing = wanted.po_status == CLOSED
    what = "cancellation" if closing else "change"
    if current.received_by:
        return (f"PO {wanted.doc_number} (QBO {current.id}) is received (bill {', '.join(current.received_by)}): "
                f"apply the {what} in QBO by hand, then replay it")
    if current.po_status == CLOSED and not closing:
        return f"PO {wanted.doc_number} (QBO {current.id}) is closed: reopen it in QBO to apply the change, then replay it"
    return None


def revision_note(wanted: PurchaseOrder, key: str) -> str:
    """The PrivateNote of a revision's write: ours, and the revision's idempotency key."""
    return f"{wanted.private_note or ''} {REVISION_MARK}{key}".strip()


def carries_revision(po: PurchaseOrder, key: str) -> bool:
    """Whether the PO in QBO holds the revision written under ``key`` (its PrivateNote says so)."""
    return f"{REVISION_MARK}{key}" in (po.private_note or "").split(" ")


def revision_body(current: PurchaseOrder, wanted: PurchaseOrder, effect: str, key: str) -> tuple[dict, bool]:
    """The update of ``current`` (its Id and SyncToken) to ``wanted`` for a revision, and
    whether it is sparse: a cancellation closes the PO (sparse: status and note only), a change
    (update) is sparse (lines replaced, fields we do not map kept), a replacement is a full
    update (writable fields the new document does not carry are cleared)."""
    ident = {"Id": current.id, "SyncToken": current.sync_token, "PrivateNote": revision_note(wanted, key)}
    if wanted.po_status == CLOSED:
        return {**ident, "POStatus": CLOSED}, True
    return wanted.to_qbo() | ident, effect != "replace"


def order_rows(path: str, content: bytes, mapping: TenantMapping) -> tuple[list[Incoming], dict]:
    """One SPS file -> ledger rows, and the purchase orders of the rows that will post (by
    (doc_type, partner, natural_key), each as ``(payload_hash(content), po)``: a page may hold
    two contents of one order, and the post step takes the PO only for the content it claims):
    orders to post, the rest skipped or quarantined with the one-line reason. Every order row
    carries its purpose code's effect (a quarantined one too: a change that does not map is held
    back as a revision, not taken for a duplicate)."""
    effects: dict[tuple[str, str, str], tuple[str, str | None]] = {}
    digest = payload_hash(content)

    def to_po(doc_type: str, partner: str, doc) -> tuple[tuple[str, PurchaseOrder], str | None] | str:
        if not routed(doc_type):
            return f"{doc_type} is routed nowhere in {OPERATION}"
        key = (doc_type, *natural_key(doc_type, doc))
        try:
            effects[key] = (order_effect(doc), None)
        except NeedsPerson as exc:
            effects[key] = ("needs_person", one_line(exc))
            raise
        po = order_to_po(doc, mapping)
        return (digest, po), po.doc_number

    rows, pos = file_rows(path, content, to_po)
    return [_with_effect(row, effects.get((row.doc_type, row.partner, row.natural_key))) for row in rows], pos


def _with_effect(row: Incoming, effect: tuple[str, str | None] | None) -> Incoming:
    return row if effect is None else replace(row, effect=effect[0], reason=effect[1])


def claimed_po(c: Claimed, handed_over: tuple[str, PurchaseOrder] | None, mapping: TenantMapping) -> PurchaseOrder:
    """The purchase order of a claimed order: the one mapped at ingest when it was mapped from
    the content claimed, else mapped again from the ledger's payload."""
    if handed_over is not None and handed_over[0] == payload_hash(c.raw_payload or b""):
        return handed_over[1]
    return remap_order(c, mapping)


def remap_order(c: Claimed, mapping: TenantMapping) -> PurchaseOrder:
    """The purchase order of a recorded order, mapped again from its raw RSX file."""
    path, _, index = c.source_ref.partition("#")
    docs = rsx.parse(c.raw_payload or b"", filename=path.rsplit("/", 1)[-1], max_bytes=max_document_bytes())
    return order_to_po(docs[int(index) if index else 0][1], mapping)
