"""Intacct -> IBM Sterling B2Bi tasks: vendors as trading partners, AP bills and purchase
orders as X12 810/850 delivered into partner Inboxes.

Ledger keys (integration ``intacct-sterling``): ``partner`` rows are (Sterling partner name,
VENDORID); ``810`` rows (partner, bill number); ``850`` rows (partner, PO number). Each X12
document gets its control numbers once (``ledger/x12_controls.py``) and goes out as a message
named after them, so a delivery retried after a lost response finds the first one instead of
delivering twice.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from ..connectors.errors import BadDocument, DuplicateWrite, NotFound, RejectedError, TransientError
from ..connectors.intacct._xml import DATETIME_FORMAT
from ..connectors.sterling import TradingPartner, partner_inbox
from ..ledger.schema import POSTED, POSTING, RECEIVED, SKIPPED
from ..ledger.store import Claimed, Incoming, Outcome, payload_hash
from ..ledger.x12_controls import ack_rows, assign_controls, mark_delivered
from ..mappings.intacct_to_x12 import document_for, envelope
from ..mappings.sterling_config import SterlingSettings
from .posting import Prepared, WriteResult, one_line, post_documents
from ..runtime.clients import sterling_client as sterling
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.sterling")

INTEGRATION = "intacct-sterling"
SOURCES = {"810": ("APBILL", "APBILLITEMS", "RECORDID"), "850": ("PODOCUMENT", "PODOCUMENTENTRIES", "DOCNO")}


def settings_of(res: Tenant) -> SterlingSettings:
    if res.mapping.sterling is None:
        raise RejectedError(f"tenant {res.name} has no sterling: section in its mapping file",
                            system="sterling", operation="config")
    return res.mapping.sterling


# -- vendors -> trading partners ------------------------------------------------------------

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


@task(**retry_options())
def sync_partners(tenant: str, run_id: str) -> dict[str, int]:
    """Create or update the Sterling partner of every configured Intacct vendor."""
    res = tenant_resources(tenant)
    settings = settings_of(res)
    vendors = {v.get("VENDORID"): v for v in res.intacct().list_vendors()}
    rows = []
    for vendor_id, cfg in settings.partners.items():
        vendor = vendors.get(vendor_id)
        if vendor is None:
            log.warning("vendor %s is configured for Sterling but not found in Intacct", vendor_id)
            continue
        desired = partner_for_vendor(vendor, vendor_id, settings)
        raw = json.dumps(desired.wire(), sort_keys=True).encode()
        rows.append(Incoming(doc_type="partner", partner=cfg.partner_name, natural_key=vendor_id,
                             source_ref=f"VENDOR:{vendor.get('RECORDNO', '')}", raw_payload=raw,
                             target_ref=cfg.partner_name))
    result = res.ledger.ingest(INTEGRATION, rows, run_id)
    # Partners an earlier run left received (a crash mid-write puts them back there) go out too:
    # nothing else writes partners, and every X12 document for them waits on their mailbox.
    pending = res.ledger.pending_ids(INTEGRATION, doc_type="partner")
    ids = list(dict.fromkeys(result.new_ids + _reopen_changed(res, rows, run_id) + pending))
    if not ids:
        return {"partners_checked": len(rows), "partners_written": 0}
    counts = _post_partners(res, ids, run_id)
    return {"partners_checked": len(rows), "partners_written": counts[POSTED]}


def _post_partners(res: Tenant, ids: list[int], run_id: str) -> dict[str, int]:
    # Find-then-create-or-update: safe to repeat after a crash, so recovery only requeues them.
    return post_documents(res.ledger, INTEGRATION, ids, run_id, build=lambda c: TradingPartner.model_validate_json(c.raw_payload),
                          write=lambda prepared: _write_partners(res, prepared), batch_size=50)


def _reopen_changed(res: Tenant, rows: list[Incoming], run_id: str) -> list[int]:
    """A vendor that changed after its partner was written: the new payload goes out as an update."""
    reopened = []
    by_key = {(r.partner, r.natural_key): r for r in rows}
    for row in res.ledger.documents(INTEGRATION, status=POSTED, doc_type="partner"):
        new = by_key.get((row.partner, row.natural_key))
        if new is None or row.payload_hash == payload_hash(new.raw_payload):
            continue
        if res.ledger.replace_payload(row.id, new.raw_payload, reopen_from=POSTED, run_id=run_id):
            reopened.append(row.id)
    return reopened


def _write_partners(res: Tenant, prepared: list[Prepared[TradingPartner]]) -> list[WriteResult]:
    client = sterling(res)
    out = []
    for p in prepared:
        partner = p.payload
        try:
            existing = client.find_trading_partner(partner.partner_name)
            if existing is None:
                try:
                    out.append(WriteResult(ok=True, target_id=client.create_trading_partner(partner)))
                    continue
                except DuplicateWrite:  # a lost response of our own create, or made meanwhile
                    pass
            client.update_trading_partner(partner.partner_name, partner)
            out.append(WriteResult(ok=True, target_id=partner.partner_name))
        except (TransientError, RejectedError, NotFound) as exc:
            out.append(WriteResult(ok=False, error=exc))
    return out


# -- AP bills and purchase orders -> X12 ------------------------------------------------------

class RecordPage(BaseModel):
    records: list[dict]
    result_id: str | None
    num_remaining: int


# Never cached: a restarted listing sends the same readByQuery again and needs a fresh cursor.
@task(cache_policy=NO_CACHE, **retry_options())
def read_page(tenant: str, doc_type: str, since: datetime, until: datetime | None, result_id: str | None,
              page_size: int = 500) -> RecordPage:
    """One page of bills (810) or purchase orders (850) modified in [since, until), with lines.

    readMore and the line ``read`` share this task, so its retry may resend an answered
    readMore: callers read pages through connectors/intacct/listing.read_listing, which
    notices the skipped page by ``num_remaining``."""
    client = tenant_resources(tenant).intacct()
    object_name = SOURCES[doc_type][0]
    if result_id:
        page = client.read_more(result_id)
    else:
        query = f"WHENMODIFIED >= '{_stamp(since)}'" + (f" AND WHENMODIFIED < '{_stamp(until)}'" if until else "")
        if doc_type == "850":
            query += " AND DOCPARID = 'Purchase Order'"
        page = client.read_by_query(object_name, query, page_size=page_size)
    keys = [r["RECORDNO"] for r in page.records if r.get("RECORDNO")]
    full = {r.get("RECORDNO"): r for r in client.read_full(object_name, keys)} if keys else {}
    records = [full.get(r.get("RECORDNO"), r) for r in page.records]
    remaining = page.num_remaining or 0
    return RecordPage(records=records, result_id=page.result_id if remaining else None, num_remaining=remaining)


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is not None:  # Intacct stamps carry no zone; the sandbox (and our advice) is UTC
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime(DATETIME_FORMAT)


def record_row(doc_type: str, record: dict, settings: SterlingSettings) -> Incoming:
    """The ledger row of one bill or PO: to deliver, quarantined, or skipped (no partner)."""
    _, _, key_field = SOURCES[doc_type]
    vendor = (record.get("VENDORID") or "").strip()
    number = (record.get(key_field) or "").strip() or f"RECORDNO:{record.get('RECORDNO', '')}"
    cfg = settings.partners.get(vendor)
    base = dict(doc_type=doc_type, natural_key=number, source_ref=f"{SOURCES[doc_type][0]}:{record.get('RECORDNO', '')}",
                raw_payload=json.dumps(record, sort_keys=True).encode())
    if cfg is None:
        return Incoming(partner=vendor, **base, status=SKIPPED, error_class="no_route",
                        last_error=f"vendor {vendor} has no Sterling trading partner in the tenant file")
    try:
        document_for(doc_type, record)
    except BadDocument as exc:
        return Incoming(partner=cfg.partner_name, **base, status="quarantined", error_class=exc.classification,
                        last_error=one_line(exc))
    return Incoming(partner=cfg.partner_name, **base, status=RECEIVED, target_ref=partner_inbox(cfg.partner_name))


class IngestReport(BaseModel):
    new_ids: list[int] = []
    max_modified: datetime | None = None


@task
def ingest_records(tenant: str, doc_type: str, records: list[dict], run_id: str) -> IngestReport:
    res = tenant_resources(tenant)
    rows = [record_row(doc_type, r, settings_of(res)) for r in records]
    result = res.ledger.ingest(INTEGRATION, rows, run_id)
    stamps = [datetime.strptime(r["WHENMODIFIED"], DATETIME_FORMAT) for r in records if r.get("WHENMODIFIED")]
    return IngestReport(new_ids=result.new_ids, max_modified=max(stamps, default=None))


def message_name(doc_type: str, number: str, interchange: int) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number)
    return f"{doc_type}_{safe}_{interchange:09d}.x12"


def build_x12(res: Tenant, c: Claimed) -> tuple[str, str, bytes]:
    """(mailbox, message name, X12 bytes) of one claimed document, control numbers reused."""
    settings = settings_of(res)
    record = json.loads(c.raw_payload)
    vendor = (record.get("VENDORID") or "").strip()
    doc = document_for(c.doc_type, record)
    controls = assign_controls(res.ledger, c.id, c.partner, c.doc_type, c.natural_key)
    content = envelope(doc, settings, vendor, interchange=controls.interchange, group=controls.group,
                       set_control=controls.set_control)
    return c.target_ref or partner_inbox(c.partner), message_name(c.doc_type, c.natural_key, controls.interchange), content


def _deliver(res: Tenant, prepared: list[Prepared[tuple[str, str, bytes]]]) -> list[WriteResult]:
    client = sterling(res)
    out, delivered = [], []
    for p in prepared:
        mailbox, name, content = p.payload
        try:
            found = client.find_messages(mailbox, name) if p.claimed.attempts > 1 else []
            message_id = found[0].id if found else client.upload_message(mailbox, name, content)
            delivered.append((p.claimed.id, message_id))
            out.append(WriteResult(ok=True, target_id=message_id))
        except NotFound as exc:  # the partner's mailbox is not there yet: next run, after partner sync
            out.append(WriteResult(ok=False, error=TransientError(str(exc), system="sterling", operation="deliver")))
        except (TransientError, RejectedError) as exc:
            out.append(WriteResult(ok=False, error=exc))
    mark_delivered(res.ledger, delivered)
    return out


@task(**retry_options())
def deliver_documents(tenant: str, ids: list[int], run_id: str) -> dict[str, int]:
    """Deliver the X12 documents ``ids`` into their partners' Sterling Inboxes. Partner rows
    among them (recovered after a crash, or replayed) are written as partners, never built as X12."""
    res = tenant_resources(tenant)
    kinds = res.ledger.doc_types(INTEGRATION, ids)
    partners = [i for i in ids if kinds.get(i) == "partner"]
    documents = [i for i in ids if kinds.get(i) != "partner"]
    counts = _post_partners(res, partners, run_id) if partners else {}
    delivered = post_documents(res.ledger, INTEGRATION, documents, run_id, build=lambda c: build_x12(res, c),
                               write=lambda prepared: _deliver(res, prepared), batch_size=100)
    return {k: v + counts.get(k, 0) for k, v in delivered.items()}


@task(**retry_options())
def resolve_deliveries(tenant: str, run_id: str, finished_runs: list[str], lease: timedelta | None = None) -> dict:
    """Settle documents a dead run left in ``posting``: found in the partner's Inbox under their
    message name -> posted; otherwise received again (same control numbers, same name)."""
    res = tenant_resources(tenant)
    settings_of(res)
    stale = res.ledger.stale_intents(INTEGRATION, run_ids=finished_runs, older_than=lease, claimer=run_id)
    if not stale:
        return {"resolved_posted": 0, "resolved_requeued": 0}
    client, outcomes, delivered = sterling(res), [], []
    controls = {r.document_id: r for r in ack_rows(res.ledger, ids=[c.id for c in stale])}
    for c in stale:
        ack = controls.get(c.id)
        found = []
        if ack is not None and c.doc_type != "partner":
            found = client.find_messages(c.target_ref or partner_inbox(c.partner),
                                         message_name(c.doc_type, c.natural_key, int(ack.interchange)))
        if found:
            outcomes.append(Outcome(c.id, POSTED, target_id=found[0].id))
            delivered.append((c.id, found[0].id))
        else:
            outcomes.append(Outcome(c.id, RECEIVED, error_class="recovered", error="intent without outcome; not in Sterling"))
    mark_delivered(res.ledger, delivered)
    res.ledger.record_outcomes(INTEGRATION, outcomes, run_id)
    return {"resolved_posted": len(delivered), "resolved_requeued": len(stale) - len(delivered)}


__all__ = ["INTEGRATION", "POSTING", "sync_partners", "read_page", "ingest_records", "deliver_documents",
           "resolve_deliveries", "build_x12", "record_row", "sterling"]
