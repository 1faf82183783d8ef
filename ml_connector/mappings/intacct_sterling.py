"""Intacct -> IBM Sterling B2Bi, the integration's rules. Pure.

Which Intacct records are read (and since when), what ledger row each becomes, which trading
partner a vendor becomes, what a delivered message is named, and which ledger rows are
partners rather than X12 documents. The X12 itself is mapped by ``intacct_to_x12``.

Ledger keys (integration ``intacct-sterling``): ``partner`` rows are (Sterling partner name,
VENDORID); ``810`` rows (partner, bill number); ``850`` rows (partner, PO number).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from ..connectors.errors import BadDocument, one_line
from ..connectors.intacct._xml import DATETIME_FORMAT
from ..connectors.sterling import TradingPartner, partner_inbox
from ..ledger.schema import QUARANTINED, RECEIVED, SKIPPED
from ..ledger.store import Incoming
from .intacct_to_x12 import document_for, envelope
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
    VENDORIDs not found (the tenant file names a vendor Intacct does not have)."""
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
                             target_ref=cfg.partner_name))
    return rows, missing


def split_partners(doc_types: dict[int, str], ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """(partner rows, X12 documents) among ``ids``: a partner row is written as a partner
    (created or updated), never built as X12, whichever path hands it over (the pending
    drain, a replay, a partner left received by a crash)."""
    partners = [i for i in ids if doc_types.get(i) == PARTNER]
    return partners, [i for i in ids if doc_types.get(i) != PARTNER]


# -- bills and purchase orders -> X12 ---------------------------------------------------------------


def record_row(doc_type: str, record: dict, settings: SterlingSettings) -> Incoming:
    """The ledger row of one bill or PO: to deliver, quarantined, or skipped (no partner)."""
    object_name, _, key_field = SOURCES[doc_type]
    vendor = (record.get("VENDORID") or "").strip()
    number = (record.get(key_field) or "").strip() or f"RECORDNO:{record.get('RECORDNO', '')}"
    cfg = settings.partners.get(vendor)
    base = dict(doc_type=doc_type, natural_key=number, source_ref=f"{object_name}:{record.get('RECORDNO', '')}",
                raw_payload=json.dumps(record, sort_keys=True).encode())
    if cfg is None:
        return Incoming(partner=vendor, **base, status=SKIPPED, error_class="no_route",
                        last_error=f"vendor {vendor} has no Sterling trading partner in the tenant file")
    try:
        document_for(doc_type, record)
    except BadDocument as exc:
        return Incoming(partner=cfg.partner_name, **base, status=QUARANTINED, error_class=exc.classification,
                        last_error=one_line(exc))
    return Incoming(partner=cfg.partner_name, **base, status=RECEIVED, target_ref=partner_inbox(cfg.partner_name))


def message_name(doc_type: str, number: str, interchange: int) -> str:
    """The name a document is delivered under: its interchange control number makes it unique,
    so a delivery whose response was lost is found by name instead of delivered twice."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number)
    return f"{doc_type}_{safe}_{interchange:09d}.x12"


def x12_document(doc_type: str, raw_payload: bytes):
    """(VENDORID, X12 document) of a stored bill or PO record; BadDocument when it maps to none
    (checked before control numbers are spent on it)."""
    record = json.loads(raw_payload)
    return (record.get("VENDORID") or "").strip(), document_for(doc_type, record)


def x12_message(doc_type: str, natural_key: str, vendor: str, doc, settings: SterlingSettings, *,
                interchange: int, group: int, set_control: str) -> tuple[str, bytes]:
    """(message name, X12 bytes) of one document under the control numbers it was given."""
    content = envelope(doc, settings, vendor, interchange=interchange, group=group, set_control=set_control)
    return message_name(doc_type, natural_key, interchange), content
