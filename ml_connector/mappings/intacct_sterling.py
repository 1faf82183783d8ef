"""Intacct -> IBM Sterling B2Bi, the integration's rules. Pure.

Which Intacct records are read (and since when), what ledger row each becomes, which trading
partner a vendor becomes, what a delivered message is named, and which ledger rows are
partners rather than X12 documents. The X12 itself is mapped by ``intacct_to_x12``.

Ledger keys (integration ``intacct-sterling``): ``partner`` rows are (Sterling partner name,
VENDORID); ``810`` rows (partner, bill number); ``850`` rows (partner, PO number).

Revisions (docs/revisions-intacct-sterling.md has the facts and sources): a bill or PO read
again with other content is a new revision of its document, ordered by WHENMODIFIED. Its
stored content is what the X12 says (:func:`content`), so a payment, which changes the bill's
paid and due amounts, state and WHENMODIFIED but nothing an 810 carries, is not a revision. A
reversed or voided bill, or a cancelled PO, is a cancellation (BIG08 / BEG01 ``01``); a change
of a document already sent goes out as a replacement (``05``); a change of a bill that is paid
or a PO that is received needs a person.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from ..connectors.errors import BadDocument, one_line
from ..connectors.intacct._xml import DATETIME_FORMAT
from ..connectors.sterling import TradingPartner, partner_inbox
from ..ledger.revisions import CANCEL, CREATE, NEEDS_PERSON, REPLACE, UPDATE
from ..ledger.schema import QUARANTINED, RECEIVED, SKIPPED
from ..ledger.store import Incoming
from .intacct_to_x12 import MAPPED_FIELDS, document_for, envelope
from .sterling_config import SterlingSettings

PARTNER = "partner"
# X12 set -> (Intacct object, its line items, the field that numbers the document)
SOURCES = {"810": ("APBILL", "APBILLITEMS", "RECORDID"), "850": ("PODOCUMENT", "PODOCUMENTENTRIES", "DOCNO")}


def kinds_to_send(settings: SterlingSettings) -> list[str]:
    """The X12 sets the tenant sends, in the order they are read: bills (810), then POs (850)."""
    return [k for k, on in (("810", settings.send_bills), ("850", settings.send_purchase_orders)) if on]


def cursor_name(doc_type: str) -> str:
    """The ledger cursor of one kind's WHENMODIFIED listing."""
    return f"whenmodified-{doc_type}"


# -- the Intacct listings -------------------------------------------------------------------------


def listing_query(doc_type: str, since: datetime, until: datetime | None) -> str:
    """The readByQuery condition of bills (810) or purchase orders (850) modified in [since, until)."""
    query = f"WHENMODIFIED >= '{_stamp(since)}'" + (f" AND WHENMODIFIED < '{_stamp(until)}'" if until else "")
    if doc_type == "850":
        query += " AND DOCPARID = 'Purchase Order'"
    return query


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is not None:  # Intacct stamps carry no zone; the sandbox (and our advice) is UTC
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime(DATETIME_FORMAT)


def last_modified(records: Sequence[dict]) -> datetime | None:
    """The newest WHENMODIFIED of ``records`` (the listing's high-water mark so far)."""
    stamps = [datetime.strptime(r["WHENMODIFIED"], DATETIME_FORMAT) for r in records if r.get("WHENMODIFIED")]
    return max(stamps, default=None)


# -- vendors -> trading partners ------------------------------------------------------------------


def partner_for_vendor(vendor: dict, vendor_id: str, settings: SterlingSettings) -> TradingPartner:
    """The trading partner a vendor should be: External authentication (no password of ours
    to keep), contact fields from the vendor, identity from the tenant file."""
    cfg = settings.partners[vendor_id]
    name = cfg.partner_name
    return TradingPartner(
        partner_name=name, username=name.lower()[:36].ljust(5, "0"), authentication_type="External",
        community=settings.community, email_address=cfg.email or f"edi@{name.lower()}.invalid",
        given_name=(vendor.get("NAME") or vendor_id)[:64], surname="Accounts Receivable", phone=cfg.phone,
        code=vendor_id, is_initiating_consumer=True, is_listening_producer=False,
    )


def partner_rows(vendors: Sequence[dict], settings: SterlingSettings) -> tuple[list[Incoming], list[str]]:
    """The partner row of every configured vendor found among ``vendors``, and the configured
    VENDORIDs not found (the tenant file names a vendor Intacct does not have). A vendor changed
    since its partner was written is a revision of the row, written as an update (the ledger
    says ``update`` once the partner exists; the write finds it either way)."""
    by_id = {v.get("VENDORID"): v for v in vendors}
    rows, missing = [], []
    for vendor_id, cfg in settings.partners.items():
        vendor = by_id.get(vendor_id)
        if vendor is None:
            missing.append(vendor_id)
            continue
        raw = json.dumps(partner_for_vendor(vendor, vendor_id, settings).wire(), sort_keys=True).encode()
        rows.append(Incoming(doc_type=PARTNER, partner=cfg.partner_name, natural_key=vendor_id,
                             source_ref=f"VENDOR:{vendor.get('RECORDNO', '')}", raw_payload=raw,
                             target_ref=cfg.partner_name, effect=CREATE))
    return rows, missing


def split_partners(doc_types: dict[int, str], ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """(partner rows, X12 documents) among ``ids``: a partner row is written as a partner
    (created or updated), never built as X12, whichever path hands it over (the pending
    drain, a replay, a partner left received by a crash)."""
    partners = [i for i in ids if doc_types.get(i) == PARTNER]
    return partners, [i for i in ids if doc_types.get(i) != PARTNER]


# -- bills and purchase orders -> X12 ---------------------------------------------------------------


# Intacct STATE values that cancel what was sent: reverse_bill leaves a bill in the company with
# STATE Reversed; a voided bill or a cancelled PO is never converted or paid.
CANCELLED_STATES = {"810": frozenset({"Reversed", "Voided"}), "850": frozenset({"Canceled", "Cancelled", "Closed"})}
# A PO converted (in part) to a receipt: the vendor has shipped against what it was sent.
RECEIVED_STATES = frozenset({"Converted", "Partially Converted", "Converted By Line", "Partially Converted By Line"})
# X12 element 353 (BIG08 of an 810, BEG01 of an 850) for what the write does; None: BIG08 left out
PURPOSES = {"810": {CREATE: None, UPDATE: "05", REPLACE: "05", CANCEL: "01"},
            "850": {CREATE: "00", UPDATE: "05", REPLACE: "05", CANCEL: "01"}}


def purpose_code(doc_type: str, effect: str) -> str | None:
    """BIG08 (810) or BEG01 (850) of a write whose ledger effect is ``effect``."""
    return PURPOSES[doc_type][effect]


def source_version(record: dict) -> str | None:
    """WHENMODIFIED as ISO 8601, which sorts in time order as text (Intacct's MM/DD/YYYY does not)."""
    stamp = (record.get("WHENMODIFIED") or "").strip()
    try:
        return datetime.strptime(stamp, DATETIME_FORMAT).isoformat()
    except ValueError:
        return None


def is_cancelled(doc_type: str, record: dict) -> bool:
    return (record.get("STATE") or "").strip() in CANCELLED_STATES[doc_type]


def content(doc_type: str, record: dict) -> dict:
    """What a document's revision is: the fields its X12 is made of, and STATE when it cancels.
    Fields that move without the document changing (paid and due amounts, WHENMODIFIED, the
    state of a payment) are left out, so they make no revision."""
    head, lines = MAPPED_FIELDS[doc_type]
    container = SOURCES[doc_type][1]
    out = {k: record[k] for k in head if k in record}
    if container in record:
        items = record[container] or []
        out[container] = [{k: item[k] for k in lines if k in item}
                          for item in (items if isinstance(items, list) else [items])]
    if is_cancelled(doc_type, record):
        out["STATE"] = record["STATE"].strip()
    return out


def blocker(doc_type: str, number: str, record: dict) -> str | None:
    """Why a change of a document already sent cannot go out as a replacement or cancellation,
    in one line naming it and what to do; None when it can."""
    state = (record.get("STATE") or "").strip()
    if doc_type == "810":
        try:
            paid = Decimal((record.get("TOTALPAID") or "0").strip() or "0")
        except InvalidOperation:
            paid = Decimal(0)
        if paid:
            return (f"bill {number} changed after {paid} of it was paid: the partner settles the invoice it has; "
                    "send it a credit or debit memo by hand, then replay")
    elif state in RECEIVED_STATES:
        return (f"PO {number} changed after it was received (STATE {state}): the vendor shipped against the order "
                "it has; agree the change with the vendor by hand, then replay")
    return None


def document_key(doc_type: str, record: dict, settings: SterlingSettings) -> tuple[str, str, str]:
    """(doc_type, partner, natural key): the ledger key of a bill or PO (the VENDORID as partner
    when the vendor has no trading partner)."""
    key_field = SOURCES[doc_type][2]
    vendor = (record.get("VENDORID") or "").strip()
    number = (record.get(key_field) or "").strip() or f"RECORDNO:{record.get('RECORDNO', '')}"
    cfg = settings.partners.get(vendor)
    return doc_type, cfg.partner_name if cfg else vendor, number


def record_row(doc_type: str, record: dict, settings: SterlingSettings, *, sent: bool = False,
               stored: bytes | None = None) -> Incoming:
    """The ledger row of one bill or PO: to deliver, quarantined, or skipped (no partner).
    ``sent``: an earlier revision of the document went to the partner, so this content is a
    change (or a cancellation) of it. ``stored``: the payload the ledger holds for it; when it
    says the same as the record (a row stored whole, before revisions), it is given back as is,
    so the ledger sees the content it knows rather than a change."""
    object_name = SOURCES[doc_type][0]
    _, partner, number = document_key(doc_type, record, settings)
    vendor = (record.get("VENDORID") or "").strip()
    cfg = settings.partners.get(vendor)
    cancelled = is_cancelled(doc_type, record)
    reason = blocker(doc_type, number, record) if sent else None
    effect = NEEDS_PERSON if reason else CANCEL if cancelled else UPDATE if sent else CREATE
    now = content(doc_type, record)
    raw = stored if stored is not None and _content_of(doc_type, stored) == now else json.dumps(now, sort_keys=True).encode()
    base = dict(doc_type=doc_type, natural_key=number, source_ref=f"{object_name}:{record.get('RECORDNO', '')}",
                raw_payload=raw, effect=effect, source_version=source_version(record), reason=reason)
    if cfg is None:
        return Incoming(partner=partner, **base, status=SKIPPED, error_class="no_route",
                        last_error=f"vendor {vendor} has no Sterling trading partner in the tenant file")
    try:
        document_for(doc_type, record)
    except BadDocument as exc:
        return Incoming(partner=cfg.partner_name, **base, status=QUARANTINED, error_class=exc.classification,
                        last_error=one_line(exc))
    return Incoming(partner=cfg.partner_name, **base, status=RECEIVED, target_ref=partner_inbox(cfg.partner_name))


def _content_of(doc_type: str, raw: bytes) -> dict | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return content(doc_type, record) if isinstance(record, dict) else None


def message_name(doc_type: str, number: str, interchange: int) -> str:
    """The name a document is delivered under: its interchange control number makes it unique,
    so a delivery whose response was lost is found by name instead of delivered twice."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number)
    return f"{doc_type}_{safe}_{interchange:09d}.x12"


def x12_document(doc_type: str, raw_payload: bytes, effect: str = CREATE):
    """(VENDORID, X12 document) of a stored bill or PO record, its purpose code the one of
    ``effect``; BadDocument when it maps to none (checked before control numbers are spent on it)."""
    record = json.loads(raw_payload)
    return (record.get("VENDORID") or "").strip(), document_for(doc_type, record, purpose_code(doc_type, effect))


def x12_message(doc_type: str, natural_key: str, vendor: str, doc, settings: SterlingSettings, *,
                interchange: int, group: int, set_control: str) -> tuple[str, bytes]:
    """(message name, X12 bytes) of one document under the control numbers it was given."""
    content = envelope(doc, settings, vendor, interchange=interchange, group=group, set_control=set_control)
    return message_name(doc_type, natural_key, interchange), content


# -- what a partner holds: the final state of each document in its Inbox --------------------------


def x12_amount(doc) -> Decimal:
    """The total an 810 (TDS01) or an 850 (quantity x unit price over its lines) says."""
    if getattr(doc, "total", None) is not None:
        return Decimal(doc.total)
    return sum((Decimal(line.quantity) * Decimal(line.unit_price or 0) for line in doc.lines), Decimal(0))


def record_amount(doc_type: str, raw_payload: bytes) -> Decimal:
    """The same total from a stored revision's content (its X12 mapped as an original)."""
    return x12_amount(x12_document(doc_type, raw_payload)[1])


def partner_holds(sets: Sequence[dict]) -> list[dict]:
    """One row per document as its partner holds it, from every transaction set found in the
    partners' Inboxes (``partner``, ``doc_type``, ``number``, ``purpose``, ``interchange``,
    ``amount``): the latest interchange of each document (the highest ISA13: each revision and
    resend takes a new, larger number) is its final state, ``cancelled`` when its purpose is
    01; earlier interchanges are its history, not copies. The same interchange found twice is
    a document delivered twice: one more row, which reconciliation counts as duplicated."""
    latest: dict[tuple, dict] = {}
    seen: set[tuple] = set()
    repeats = []
    for s in sets:
        key = (s["partner"], s["doc_type"], s["number"])
        row = {"partner": s["partner"], "doc_type": s["doc_type"], "number": s["number"],
               "cancelled": s.get("purpose") == "01", "amount": s.get("amount")}
        if (*key, s["interchange"]) in seen:
            repeats.append(row)
            continue
        seen.add((*key, s["interchange"]))
        if key not in latest or s["interchange"] > latest[key]["_interchange"]:
            latest[key] = {**row, "_interchange": s["interchange"]}
    return [{k: v for k, v in r.items() if k != "_interchange"} for r in latest.values()] + repeats
