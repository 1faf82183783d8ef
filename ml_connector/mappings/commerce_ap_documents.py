"""Adobe Commerce -> Intacct procure: Commerce entities as ledger rows, and rows as Intacct
functions. Pure: no I/O (pipelines/commerce_ap.py and its tasks do the reading and writing).

A ledger row's raw payload is an *envelope*: the entity as read, plus the few fields of its
order that map it (customer, store, PO number), so a row can be mapped again at post time or
in a replay without asking Commerce::

    {"kind": "order" | "invoice" | "creditmemo", "entity": {...}, "order": {...} | null}

What becomes what (one bill per purchase, never two; README "Adobe Commerce -> Sage Intacct"):

* an order paid by purchase order (``payment.po_number``: Adobe's REST API has no purchase
  order list, so this is how a B2B purchase order is recognised) -> a PODOCUMENT; its invoices
  -> AP bills ``CI-<invoice>`` (the supplier's invoices against that PO);
* any other order -> an AP bill ``CO-<order>``; its invoices are skipped (billed with the order);
* an order canceled before it was billed is skipped;
* a credit memo -> an AP adjustment ``CM-<memo>`` linked (``billno``) to the bill it credits.

The target reference (``APBILL:<RECORDID>``, ``PODOCUMENT:<type>:<DOCNO>``,
``APADJUSTMENT:<RECORDID>``) is known at ingest without the vendor: it is what a lost response
or a dead run's intent is settled with, by looking the document up in Intacct.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ..connectors.errors import BadDocument, one_line
from ..connectors.intacct.functions import bill_function
from ..connectors.intacct.functions_ap import apadjustment_function, potransaction_function
from ..connectors.intacct.models import ApBill, Function
from ..ledger.revisions import CANCEL, CREATE, UPDATE
from ..ledger.schema import POSTED, QUARANTINED, RECEIVED, SKIPPED
from ..ledger.store import Claimed, Incoming
from . import commerce_to_intacct_ap as ap
from .commerce_common import bad, email, integer, label, po_number, route, text
from .commerce_tenant import CommerceSettings
from .intacct_bill_revisions import NeedsPerson

INTEGRATION = "commerce-intacct-ap"
KINDS = ("orders", "invoices", "creditmemos")  # read in this order: a credit memo credits a bill
DOC_TYPES = {"orders": "order", "invoices": "invoice", "creditmemos": "creditmemo"}
KIND_OF = {v: k for k, v in DOC_TYPES.items()}
# Ingest maps every document once to find bad input early; the vendor is only known at post time.
_VALIDATING = "VALIDATING"
DOCUMENT_CANCELED = 3  # an invoice's or credit memo's state once canceled (1 open, 2 paid/refunded)
_ORDER_CONTEXT = ("entity_id", "increment_id", "customer_id", "customer_is_guest", "customer_email",
                  "customer_firstname", "customer_lastname", "store_id", "state")


class Skip(Exception):
    """A document that rightly becomes nothing in Intacct (the reason is recorded)."""


@dataclass(frozen=True)
class Party:
    """Whose vendor a document posts on: the Commerce customer (id, and email to match by)."""

    customer_id: int | None
    email: str

    @property
    def key(self) -> str:
        return str(self.customer_id) if self.customer_id is not None else f"email:{self.email}"


@dataclass(frozen=True)
class Planned:
    """One Intacct write: the function, the entity (session) it runs in, what it creates."""

    entity: str
    function: Function
    target_ref: str
    bill: ApBill | None = None  # the bill itself, for a bill (an update sends it, recovery compares it)


def order_context(order: dict | None) -> dict | None:
    """The fields of an order that its invoices and credit memos are mapped with."""
    if not isinstance(order, dict):
        return None
    context = {k: order.get(k) for k in _ORDER_CONTEXT}
    payment = order.get("payment")
    context["payment"] = {"po_number": payment.get("po_number"), "method": payment.get("method")} \
        if isinstance(payment, dict) else None
    return context


def envelope(doc_type: str, entity: Any, order: dict | None) -> bytes:
    """The ledger payload of one Commerce document (see the module docstring)."""
    body = {"kind": doc_type, "entity": entity, "order": order_context(order)}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def read_envelope(raw: bytes | None) -> dict:
    try:
        body = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad("stored document is not JSON", "unreadable", INTEGRATION) from None
    if not isinstance(body, dict) or body.get("kind") not in KIND_OF or not isinstance(body.get("entity"), dict):
        raise bad("stored document is not a Commerce order, invoice or credit memo envelope", "unreadable", INTEGRATION)
    return body


def party_of(env: dict) -> Party:
    """The Commerce customer of a document (from its order); bad or missing email -> BadDocument."""
    order = _order(env)
    where = label(order, "order")
    customer = integer(order, "customer_id", where, required=False)
    return Party(customer_id=customer, email=email(order, "customer_email", where) or "")


def _order(env: dict) -> dict:
    order = env.get("order")
    if not isinstance(order, dict):
        entity = env["entity"]
        raise bad(f"{label(entity, env['kind'].replace('creditmemo', 'credit memo'))}: its order "
                  f"{entity.get('order_id', '?')} was not found in Commerce", "missing-order", INTEGRATION)
    return order


def is_po_order(env: dict) -> bool:
    return bool(po_number({"payment": _order(env).get("payment"), "increment_id": _order(env).get("increment_id")}))


def target_ref(env: dict, commerce: CommerceSettings) -> str:
    """Validate the document by mapping it once (vendor not known yet) and return its target
    reference. Raises :class:`Skip` for a document that becomes nothing, BadDocument for bad input."""
    party_of(env)
    kind, entity = env["kind"], env["entity"]
    if kind == "order":
        if entity.get("state") == "canceled":
            raise Skip("order canceled before it was billed")
        if ap.is_purchase_order(entity):
            po = ap.order_to_potransaction(entity, commerce, _VALIDATING)
            return f"PODOCUMENT:{po.transaction_type}:{po.document_no}"
        return f"APBILL:{ap.order_to_apbill(entity, commerce, _VALIDATING).record_id}"
    if kind == "invoice":
        order = _order(env)
        increment = text(order, "increment_id", label(order, "order"))
        if not is_po_order(env):
            raise Skip(f"billed with its order: AP bill {ap.order_bill_number(increment, commerce)}")
        return f"APBILL:{ap.invoice_to_apbill(entity, commerce, _VALIDATING, increment).record_id}"
    return f"APADJUSTMENT:{ap.creditmemo_to_apadjustment(entity, commerce, _VALIDATING, None).adjustment_no}"


def credited(env: dict) -> tuple[str, str] | None:
    """The ledger key (doc type, natural key) of the document whose bill a credit memo credits:
    the order (its ``CO-`` bill) or, for a purchase order, the memo's invoice (its ``CI-`` bill)."""
    if env["kind"] != "creditmemo":
        return None
    if is_po_order(env):
        invoice = env["entity"].get("invoice_id")
        return ("invoice", str(invoice)) if invoice not in (None, "", 0) else None
    return ("order", str(_order(env).get("entity_id")))


def plan(env: dict, commerce: CommerceSettings, vendor_id: str, controlid: str, bill_no: str | None = None) -> Planned:
    """The Intacct function of one document on ``vendor_id`` (``bill_no``: the bill a credit memo
    credits), in the entity its store routes to."""
    kind, entity = env["kind"], env["entity"]
    where = label(entity, kind)
    store = route(entity, commerce, where)
    if kind == "order" and ap.is_purchase_order(entity):
        po = ap.order_to_potransaction(entity, commerce, vendor_id)
        return Planned(store.entity, potransaction_function(controlid, po),
                       f"PODOCUMENT:{po.transaction_type}:{po.document_no}")
    if kind == "order":
        bill = ap.order_to_apbill(entity, commerce, vendor_id)
        return Planned(store.entity, bill_function(controlid, bill), f"APBILL:{bill.record_id}", bill)
    if kind == "invoice":
        order = _order(env)
        bill = ap.invoice_to_apbill(entity, commerce, vendor_id, text(order, "increment_id", label(order, "order")))
        return Planned(store.entity, bill_function(controlid, bill), f"APBILL:{bill.record_id}", bill)
    adjustment = ap.creditmemo_to_apadjustment(entity, commerce, vendor_id, bill_no)
    return Planned(store.entity, apadjustment_function(controlid, adjustment), f"APADJUSTMENT:{adjustment.adjustment_no}")


@dataclass(frozen=True)
class Unchanged:
    """A newer content of a posted document that maps to the very write Intacct already holds
    (a status change, a comment, a refund recorded on the order): nothing to write."""


@dataclass(frozen=True)
class BillChange:
    """A change (``update``: header and the whole line set) or a cancellation (``cancel``) of
    the AP bill ``record_id`` Intacct holds, in the entity ``entity``."""

    effect: str
    entity: str
    record_id: str
    bill: ApBill | None = None


def entity_of(env: dict, commerce: CommerceSettings) -> str:
    """The Intacct entity a document's store routes to ("" when its store is not routed)."""
    try:
        return route(env["entity"], commerce, label(env["entity"], env["kind"])).entity
    except BadDocument:
        return ""


def same_write(a: Planned, b: Planned) -> bool:
    """Whether two contents of a document map to the same Intacct write (both planned under the
    same controlid: only what the document says is compared)."""
    return (a.entity, a.target_ref, a.function.body) == (b.entity, b.target_ref, b.function.body)


def revision_write(effect: str, target_ref: str | None, entity: str, new: Planned | None,
                   applied: Planned | None) -> Unchanged | BillChange:
    """What a change (``new``: the latest content's write; ``applied``: the write of the content
    Intacct holds, None when unknown) or a cancellation of a posted document does in Intacct, in
    the entity (``entity``) its store routes to.
    Only AP bills are changed or cancelled automatically; a purchase order (PODOCUMENT) or an AP
    adjustment that changed or was cancelled raises NeedsPerson with what to do."""
    ref = parse_ref(target_ref or (new.target_ref if new else None))
    if effect != CANCEL and new is not None and applied is not None and same_write(new, applied):
        return Unchanged()
    if ref is None:
        raise NeedsPerson(f"a {effect} of a document with no Intacct reference ({target_ref!r}): "
                          "apply it in Intacct by hand", system="mapping", operation=INTEGRATION, code="no-target")
    if ref[0] == "APBILL":
        if effect == CANCEL:
            return BillChange(CANCEL, entity, ref[1])
        assert new is not None and new.bill is not None  # a bill's plan carries its bill
        return BillChange(UPDATE, entity, ref[1], new.bill)
    what = "cancelled" if effect == CANCEL else "changed"
    if ref[0] == "PODOCUMENT":
        raise NeedsPerson(f"purchase order {ref[2]} ({ref[1]}) was {what} in Commerce after Intacct created it: "
                          f"{'cancel' if effect == CANCEL else 'change'} that PO document in Intacct by hand "
                          "(this integration does not revise purchase orders)", system="intacct",
                          operation=INTEGRATION, code="po-revision")
    raise NeedsPerson(f"credit memo {ref[1]} was {what} in Commerce after Intacct created its AP adjustment: "
                      f"{'reverse' if effect == CANCEL else 'correct'} AP adjustment {ref[1]} in Intacct by hand "
                      "(this integration does not revise AP adjustments)", system="intacct", operation=INTEGRATION,
                      code="adjustment-revision")


def parse_ref(ref: str | None) -> tuple[str, ...] | None:
    """``APBILL:CO-1`` -> ("APBILL", "CO-1"); ``PODOCUMENT:Purchase Order:1`` -> 3 parts."""
    if not ref or ":" not in ref:
        return None
    head, _, rest = ref.partition(":")
    if head == "PODOCUMENT":
        kind, _, number = rest.partition(":")
        return (head, kind, number) if number else None
    return (head, rest) if head in ("APBILL", "APADJUSTMENT") and rest else None


def entity_row(doc_type: str, raw: Any, order: dict | None, commerce: CommerceSettings) -> Incoming:
    """One Commerce document -> its ledger row: to post (with its target), skipped with the
    reason, or quarantined with the one-line reason. Pure."""
    key = _key(raw)
    payload = envelope(doc_type, raw, order)
    created = raw.get("created_at") if isinstance(raw, dict) else None
    base: dict[str, Any] = dict(doc_type=doc_type, partner="", natural_key=key, source_ref=f"{KIND_OF[doc_type]}/{key}",
                raw_payload=payload, doc_date=created[:10] if isinstance(created, str) and len(created) >= 10 else None)
    base.update(effect=source_effect(doc_type, raw), source_version=source_version(raw))
    if base["effect"] == CANCEL:
        return Incoming(**base, status=RECEIVED, target_ref=cancelled_ref(payload, commerce))
    try:
        ref = target_ref(read_envelope(payload), commerce)
    except Skip as reason:
        return Incoming(**base, status=SKIPPED, last_error=str(reason))
    except BadDocument as exc:
        return Incoming(**base, status=QUARANTINED, error_class=exc.classification, last_error=one_line(exc))
    return Incoming(**base, status=RECEIVED, target_ref=ref)


def source_effect(doc_type: str, raw: Any) -> str:
    """What a Commerce document's content means for what Intacct holds of it: a canceled order
    (state ``canceled``), a canceled invoice or credit memo (state 3) cancels it; any other
    content is the document as it now stands (the ledger makes it an update once one is posted).
    docs/revisions-commerce.md has the states and their sources."""
    state = raw.get("state") if isinstance(raw, dict) else None
    if doc_type == "order":
        return CANCEL if state == "canceled" else CREATE
    return CANCEL if str(state) == str(DOCUMENT_CANCELED) else CREATE


def source_version(raw: Any) -> str | None:
    """The order of a Commerce document's contents: its ``updated_at`` (``YYYY-MM-DD HH:MM:SS``
    UTC, which sorts as text), which every save of the entity moves."""
    value = raw.get("updated_at") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and value else None


def cancelled_ref(payload: bytes, commerce: CommerceSettings) -> str | None:
    """The target reference of a cancelled document, as its live content had it (None when even
    that cannot be mapped: then nothing of it can be in Intacct under a reference)."""
    env = read_envelope(payload)
    live = dict(env["entity"], state="new" if env["kind"] == "order" else 2)
    try:
        return target_ref({**env, "entity": live}, commerce)
    except (Skip, BadDocument):
        return None


def rejected_row(doc_type: str, key: str | None, raw: Any, error: BadDocument) -> Incoming:
    """An entity the connector could not read: quarantined with its raw JSON and the reason."""
    payload = json.dumps({"kind": doc_type, "entity": raw}, default=str).encode("utf-8")
    natural = key or f"unreadable#{hashlib.sha256(payload).hexdigest()[:16]}"
    return Incoming(doc_type=doc_type, partner="", natural_key=natural, source_ref=f"{KIND_OF[doc_type]}/{natural}",
                    raw_payload=payload, status=QUARANTINED, error_class=error.classification, last_error=one_line(error))


@dataclass
class EntityPage:
    """Raw entities of one kind as read (JSON-ready dicts), the unreadable ones, the orders
    their invoices and credit memos belong to; from the change feed also the cursor to store once
    the page is durable, the walk's position after it (``after``) and whether more follows."""

    kind: str
    items: list[dict] = field(default_factory=list)
    rejects: list[tuple[str | None, Any, BadDocument]] = field(default_factory=list)
    orders: dict[str, dict] = field(default_factory=dict)
    cursor: str | None = None
    after: str | None = None
    more: bool = False


def page_rows(page: EntityPage, commerce: CommerceSettings) -> list[Incoming]:
    """The ledger rows of a page: each invoice and credit memo mapped with its order."""
    doc_type = DOC_TYPES[page.kind]
    rows = [entity_row(doc_type, raw, page.orders.get(str(raw.get("order_id"))) if page.kind != "orders" else raw,
                       commerce) for raw in page.items]
    rows += [rejected_row(doc_type, key, raw, error) for key, raw, error in page.rejects]
    return rows


def named_entities(claimed: Iterable[Claimed]) -> dict[str, list[str]]:
    """The entity ids webhook notifications name, by kind (``orders``, ``invoices``,
    ``creditmemos``...: sorted, once each), as the webhook service stores them (``kind``, ``ids``)."""
    named: dict[str, list[str]] = {}
    for c in claimed:
        try:
            note = json.loads(c.raw_payload or b"{}")
        except ValueError:
            continue
        if isinstance(note, dict) and note.get("kind"):
            named.setdefault(str(note["kind"]), []).extend(str(i) for i in note.get("ids") or [])
    return {k: sorted(set(v)) for k, v in named.items()}


def _key(raw: Any) -> str:
    value = raw.get("entity_id") if isinstance(raw, dict) else None
    if isinstance(value, bool) or value in (None, ""):
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return f"unreadable#{digest}"
    return str(value)


def kind_of_document(doc: dict) -> str:
    """``order``, ``invoice`` or ``creditmemo``, told apart by the fields only each one has."""
    if "order_id" not in doc:
        return "order"
    return "creditmemo" if any(k in doc for k in ("adjustment_positive", "adjustment_negative", "creditmemo_status")) \
        else "invoice"


def preview_ap(content: bytes, commerce: CommerceSettings, name: str) -> str:
    """``ml-connector preview --integration commerce-intacct-ap FILE``: the Intacct function a
    Commerce order, invoice or credit memo becomes (REST JSON; an invoice or credit memo as
    ``{"entity": {...}, "order": {...}}``, since its vendor and PO flag come from its order).
    The vendor shown is the one that would be created (``VC-<customer id>``): a vendor matched
    by email or Commerce id at post time takes its place."""
    from lxml import etree

    try:
        doc = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad(f"{name}: not JSON", "unreadable", INTEGRATION) from None
    if not isinstance(doc, dict):
        raise bad(f"{name}: not a JSON object", "unreadable", INTEGRATION)
    entity, order = (doc["entity"], doc.get("order")) if isinstance(doc.get("entity"), dict) else (doc, None)
    kind = doc.get("kind") if doc.get("kind") in KIND_OF else kind_of_document(entity)
    env = read_envelope(envelope(kind, entity, entity if kind == "order" else order))
    try:
        ref = target_ref(env, commerce)
    except Skip as reason:
        return f"<!-- {kind} {entity.get('increment_id') or entity.get('entity_id')}: becomes nothing ({reason}) -->"
    party = party_of(env)
    vendor = ap.vendor_id_for(party.customer_id, commerce) if party.customer_id is not None else "MATCHED-BY-EMAIL"
    bill_no = None
    if kind == "creditmemo" and credited(env):
        number = (order or {}).get("increment_id") if credited(env)[0] == "order" else None  # type: ignore[index]
        bill_no = ap.order_bill_number(number, commerce) if number else None
    planned = plan(env, commerce, vendor, "mlc-preview", bill_no)
    pretty = etree.tostring(etree.fromstring(planned.function.body), pretty_print=True).decode()
    who = vendor if party.customer_id is not None else f"the vendor with email {party.email}"
    return f"<!-- {kind} {entity.get('increment_id')} -> {ref} in entity {planned.entity}, vendor {who} -->\n{pretty}"


def same_document(stored: bytes | None, new: bytes | None, commerce: CommerceSettings) -> bool:
    """Whether two contents of a document make the same Intacct write (a status change, a hold,
    a refund recorded on the order leaves its bill as it was). Unreadable content: no."""
    try:
        planned = [plan(read_envelope(raw), commerce, "SAME", "same") for raw in (stored, new)]
    except BadDocument:
        return False
    return same_write(*planned)


def unchanged_as_duplicates(rows: list[Incoming], stored: dict[tuple[str, str], Any],
                            commerce: CommerceSettings) -> list[Incoming]:
    """The rows of a page with each posted document whose Intacct write would stay as it is made
    a plain re-read (no revision information: the ledger counts it a duplicate and keeps the posted
    content). ``stored``: the ledger rows of the page's documents by (doc type, natural key)."""
    out = []
    for row in rows:
        held = stored.get((row.doc_type, row.natural_key)) if row.effect == CREATE else None
        if held is not None and held.status == POSTED and same_document(held.raw_payload, row.raw_payload, commerce):
            row = replace(row, effect=None, source_version=None)
        out.append(row)
    return out
