"""Intacct -> IBM Sterling B2Bi tasks: a page of bills or POs read, the trading partners synced,
documents delivered (pipelines/intacct_sterling.py runs them; the rules are
mappings/intacct_sterling.py).

Each revision of an X12 document gets its control numbers once (``ledger/x12_controls.py``) and
goes out as a message named after them, so a delivery retried after a lost response finds the
first one instead of delivering twice; a later revision or a resend never reuses the numbers of
an interchange that went out.
"""

from __future__ import annotations

import logging
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from ..connectors.errors import BadDocument, DuplicateWrite, NotFound, RejectedError, TransientError
from ..connectors.sterling import TradingPartner, partner_inbox
from ..engine.posting import Prepared, WriteResult, post_documents
from ..ledger.revisions import CANCEL
from ..ledger.schema import POSTED
from ..ledger.store import Claimed
from ..ledger.x12_controls import assign_controls, assign_revision_controls, mark_delivered
from ..mappings.intacct_sterling import (
    PARTNER,
    SOURCES,
    listing_query,
    partner_rows,
    split_partners,
    x12_document,
    x12_message,
)
from ..mappings.sterling_config import SterlingSettings
from ..runtime.clients import sterling_client as sterling
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.sterling")

INTEGRATION = "intacct-sterling"


def settings_of(res: Tenant) -> SterlingSettings:
    if res.mapping.sterling is None:
        raise RejectedError(f"tenant {res.name} has no sterling: section in its mapping file",
                            system="sterling", operation="config")
    return res.mapping.sterling


# -- vendors -> trading partners ------------------------------------------------------------


@task(cache_policy=NO_CACHE, **retry_options())
def sync_partners(tenant: str, run_id: str) -> dict[str, int]:
    """Create or update the Sterling partner of every configured Intacct vendor: new ones, those
    whose vendor changed (a revision of the partner row), and those an earlier run left received
    (a crash mid-write puts them back there). Every X12 document for a partner waits on its
    mailbox, so this runs first."""
    res = tenant_resources(tenant)
    settings = settings_of(res)
    rows, missing = partner_rows(res.intacct().list_vendors(), settings)
    for vendor_id in missing:
        log.warning("vendor %s is configured for Sterling but not found in Intacct", vendor_id)
    result = res.ledger.ingest(INTEGRATION, rows, run_id)
    pending = res.ledger.pending_ids(INTEGRATION, doc_type=PARTNER)
    ids = list(dict.fromkeys(result.new_ids + pending))
    written = _post_partners(res, ids, run_id)[POSTED] if ids else 0
    return {"partners_checked": len(rows), "partners_written": written}


def _post_partners(res: Tenant, ids: list[int], run_id: str) -> dict[str, int]:
    # Find-then-create-or-update: safe to repeat after a crash, so recovery only requeues them.
    return post_documents(res.ledger, INTEGRATION, ids, run_id,
                          build=lambda c: TradingPartner.model_validate_json(c.raw_payload),
                          write=lambda prepared: _write_partners(res, prepared), batch_size=50)


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
        page = client.read_by_query(object_name, listing_query(doc_type, since, until), page_size=page_size)
    keys = [r["RECORDNO"] for r in page.records if r.get("RECORDNO")]
    full = {r.get("RECORDNO"): r for r in client.read_full(object_name, keys)} if keys else {}
    records = [full.get(r.get("RECORDNO"), r) for r in page.records]
    remaining = page.num_remaining or 0
    return RecordPage(records=records, result_id=page.result_id if remaining else None, num_remaining=remaining)


def build_x12(res: Tenant, c: Claimed, run_id: str) -> tuple[str, str, bytes]:
    """(mailbox, message name, X12 bytes) of one claimed revision: its purpose code from the
    ledger's effect (an original, a replacement, a cancellation of what the partner has), its
    control numbers those of this revision (reused on a retry, new for a later revision or a
    resend, never an earlier interchange's)."""
    if c.effect == CANCEL and c.target_id is None:
        raise BadDocument(f"{c.doc_type} {c.natural_key} is cancelled and nothing of it was sent: nothing to cancel",
                          system="sterling", operation="deliver")
    vendor, doc = x12_document(c.doc_type, c.raw_payload, c.effect)
    if c.revision > 1 or c.resend:
        controls = assign_revision_controls(res.ledger, c.id, c.partner, c.doc_type, c.natural_key,
                                            integration=INTEGRATION, revision=c.revision, run_id=run_id)
    else:
        controls = assign_controls(res.ledger, c.id, c.partner, c.doc_type, c.natural_key)
    name, content = x12_message(c.doc_type, c.natural_key, vendor, doc, settings_of(res), interchange=controls.interchange,
                                group=controls.group, set_control=controls.set_control)
    return c.target_ref or partner_inbox(c.partner), name, content


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


@task(cache_policy=NO_CACHE, **retry_options())
def deliver_documents(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """Deliver the X12 documents ``ids`` into their partners' Sterling Inboxes (``payloads``,
    the pipeline's hand-over, is unused: the X12 needs control numbers assigned at the write).
    Partner rows among them (the drain, a replay) are written as partners, first."""
    res = tenant_resources(tenant)
    partners, documents = split_partners(res.ledger.doc_types(INTEGRATION, ids), ids)
    counts = _post_partners(res, partners, run_id) if partners else {}
    delivered = post_documents(res.ledger, INTEGRATION, documents, run_id, build=lambda c: build_x12(res, c, run_id),
                               write=lambda prepared: _deliver(res, prepared), batch_size=100)
    return {k: v + counts.get(k, 0) for k, v in delivered.items()}
