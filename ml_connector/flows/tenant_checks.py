"""Is there anything for this tenant to do? Cheap checks in plain code, before any Prefect run.

A scheduled fan-out (flows/tenants.py) asks each tenant's check first and starts the tenant's
subflow only when it answers with a reason. A subflow is a flow run and about six task runs,
~0.1 CPU-s in the worker and ~0.3 CPU-s in the Prefect server even when it finds nothing; a
check is a few ledger queries and one to seven small source reads (a page of one), without
the server. What each check looks at, in this order:

1. the ledger: documents between intent and outcome, or received and not yet posted (that
   includes stored webhook notifications and documents waiting on another one), and cursors
   a listing left half-way;
2. when the tenant's last completed run of the integration started: never, or longer ago than
   ``ML_CONNECTOR_FULL_RUN_HOURS`` (default 6; each tenant's turn comes between half of it and
   all of it, so tenants set up together do not all run in one poll), runs it anyway. That is the safety net for what
   a check cannot see: a record committed late with a modification time inside the flows'
   overlap window, a vendor or partner setting changed in the mapping file;
3. the source: the first page (of one) of what the run would read, strictly after the stored
   cursor (the runs re-read an overlap window; the check does not, or every tenant would look
   busy for minutes after each document).

A check that fails (an outage, a bad credential) answers "busy" with the error: the subflow
then fails with its full story, and the parent run names the tenant. So a check can delay a
document until the next full run at worst; it never decides that one is done.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from .tenant_selection import last_run

Check = Callable[[object], "str | None"]  # a tenant's resources -> why it is busy, or None


def full_run_after(tenant: str = "", integration: str = "") -> timedelta:
    """How long a tenant may go without a real run of an integration: between half of
    ML_CONNECTOR_FULL_RUN_HOURS and all of it, at a point fixed per tenant and integration, so
    tenants set up together do not all come due in the same poll (and again every period)."""
    hours = float(os.environ.get("ML_CONNECTOR_FULL_RUN_HOURS", "6"))
    spread = int.from_bytes(hashlib.sha256(f"{tenant}|{integration}".encode()).digest()[:4], "big") / 2**32
    return timedelta(hours=hours * (0.5 + 0.5 * spread))


def busy_reason(integration: str, res) -> str | None:
    """Why tenant ``res`` has work in ``integration`` (None: nothing to do), by the checks above."""
    check = CHECKS.get(integration)
    if check is None:
        return "no idle check for this integration"
    try:
        ran = last_run(res.ledger, integration)
        if ran is None:
            return "no completed run yet"
        if datetime.now(UTC) - _aware(ran) > full_run_after(res.name, integration):
            return f"last full run {ran.isoformat(timespec='minutes')}"
        return check(res)
    except Exception as exc:  # the subflow will say it properly
        return f"check failed, running anyway: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def _ledger(ledger, *names: str) -> str | None:
    for name in names:
        if ledger.intent_runs(name):
            return f"{name}: writes between intent and outcome"
        if ledger.pending_ids(name, limit=1):
            return f"{name}: documents waiting"
    return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sps_out(res, ledger_name: str) -> str | None:
    if res.ledger.get_cursor(ledger_name) is not None:
        return "an SPS listing was left half-way"
    if res.sps().list_page("out/", limit=1).files:
        return "new files in SPS out/"
    return None


def _intacct_since(res, object_name: str, since: datetime, extra: str = "") -> bool:
    """Whether Intacct has ``object_name`` records modified at or after ``since``."""
    from ..connectors.intacct import codec
    from ..connectors.intacct._xml import DATETIME_FORMAT

    stamp = _aware(since).astimezone(UTC).strftime(DATETIME_FORMAT)
    page = res.intacct().read_by_query(object_name, f"WHENMODIFIED >= {codec.quote(stamp)}{extra}", page_size=1)
    return bool(page.records) or bool(page.num_remaining)


def _after_cursor(stored: str | None) -> datetime:
    """Strictly after a stored WHENMODIFIED high-water mark (Intacct stamps are to the second);
    without one, from the start the flows read from when they have no cursor (a listing that
    found nothing stores none)."""
    from ..connectors.intacct.listing import EPOCH

    return datetime.fromisoformat(stored) + timedelta(seconds=1) if stored else EPOCH


def sps_intacct(res) -> str | None:
    from ..tasks.intacct import INTEGRATION

    return _ledger(res.ledger, INTEGRATION) or _sps_out(res, INTEGRATION)


def intacct_sps(res) -> str | None:
    from ..tasks.intacct import INTEGRATION as INBOUND
    from ..tasks.outbound import INTEGRATION

    if reason := _ledger(res.ledger, INTEGRATION):
        return reason
    if res.mapping.outbound.send_orderacks and res.ledger.posted_without_followup(
            INBOUND, "order", INTEGRATION, "orderack", limit=1):
        return "posted orders to acknowledge"
    if _intacct_since(res, "ARINVOICE", _after_cursor(res.ledger.get_cursor(INTEGRATION, "whenmodified"))):
        return "AR invoices modified in Intacct"
    return None


def sps_qbo(res) -> str | None:
    from ..mappings.qbo_master import partners_without_vendor
    from ..tasks.qbo import INBOUND
    from ..tasks.qbo_master import MASTER, read_links

    if reason := _ledger(res.ledger, INBOUND, MASTER):
        return reason
    if res.mapping.qbo is not None and partners_without_vendor(res.mapping, read_links(res.ledger)[0]):
        return "trading partners without a QBO vendor"
    return _sps_out(res, INBOUND)


def qbo_sps(res) -> str | None:
    from ..connectors.qbo.client import CDC_MAX_AGE as CDC_WINDOW
    from ..runtime.clients import qbo_client
    from ..tasks.qbo import OUTBOUND
    from ..tasks.qbo_webhook import WEBHOOK

    if reason := _ledger(res.ledger, OUTBOUND, WEBHOOK):
        return reason
    stored = res.ledger.get_cursor(OUTBOUND, "cdc")
    if stored is None:
        return "no CDC cursor yet"
    since = _aware(datetime.fromisoformat(stored))
    if datetime.now(UTC) - since > CDC_WINDOW - timedelta(days=1):
        return "the CDC cursor is about to leave QBO's 30-day window"
    result = qbo_client(res).cdc(["Invoice"], since)
    if result.capped or result.changed("Invoice"):
        return "QBO invoices changed"
    return None


def intacct_sterling(res) -> str | None:
    from ..tasks.sterling import INTEGRATION, SOURCES, settings_of

    settings = settings_of(res)
    if reason := _ledger(res.ledger, INTEGRATION):
        return reason
    written = {row.natural_key for row in res.ledger.documents(INTEGRATION, doc_type="partner")}
    if set(settings.partners) - written:
        return "configured vendors without a Sterling partner"
    ran = last_run(res.ledger, INTEGRATION)
    if ran is not None and _intacct_since(res, "VENDOR", ran):
        return "vendors modified in Intacct"
    kinds = [k for k, on in (("810", settings.send_bills), ("850", settings.send_purchase_orders)) if on]
    for doc_type in kinds:
        stored = res.ledger.get_cursor(INTEGRATION, f"whenmodified-{doc_type}")
        extra = " AND DOCPARID = 'Purchase Order'" if doc_type == "850" else ""
        if _intacct_since(res, SOURCES[doc_type][0], _after_cursor(stored), extra):
            return f"{SOURCES[doc_type][0]} modified in Intacct"
    return None


def sterling_inbound(res) -> str | None:
    from ..connectors.errors import NotFound
    from ..connectors.sterling.client import partner_outbox
    from ..ledger.x12_controls import ack_counts, ack_rows
    from ..tasks.sterling import settings_of
    from ..tasks.sterling_mailbox import INBOUND

    settings = settings_of(res)
    if reason := _ledger(res.ledger, INBOUND):
        return reason
    if ack_counts(res.ledger).get("delivered"):
        due = datetime.now(UTC) - timedelta(minutes=settings.overdue_after_minutes)
        if any(_aware(r.delivered_at) <= due for r in ack_rows(res.ledger, "delivered") if r.delivered_at):
            return "documents past their 997 deadline"
    client = res.sterling()
    for cfg in settings.partners.values():
        try:
            if client.list_messages(partner_outbox(cfg.partner_name), only_extractable=True, page_size=1,
                                    max_pages=1):
                return f"messages in {cfg.partner_name}'s outbox"
        except NotFound:  # the partner is not created yet: nothing to read there
            continue
    return None


def _commerce_after(res, kind: str, stored: str | None) -> bool:
    """Whether Commerce has ``kind`` entities changed strictly after the stored keyset cursor
    (without one, any: a read that found nothing stores no cursor)."""
    from ..connectors.adobe import SyncCursor, window_criteria
    from ..tasks.commerce_ap import utcnow

    after = SyncCursor.decode(stored) if stored else None
    criteria = window_criteria(None, utcnow() + timedelta(seconds=1), after)
    return res.adobe().search(kind, criteria.page(1, 1)).received > 0


def commerce_ap(res) -> str | None:
    from ..mappings.commerce_ap_documents import INTEGRATION, KINDS
    from ..pipelines.commerce_ap import INBOX
    from ..tasks.commerce_ap_vendors import MASTER

    res.commerce("procure")
    if reason := _ledger(res.ledger, INTEGRATION, INBOX.box, MASTER):
        return reason
    for kind in KINDS:
        if _commerce_after(res, kind, res.ledger.get_cursor(INTEGRATION, kind)):
            return f"{kind} changed in Commerce"
    return None


def commerce_o2c(res) -> str | None:
    from ..tasks.commerce_o2c import FOLLOWUPS, INTEGRATION, KINDS
    from ..tasks.commerce_o2c_customers import CURSOR
    from ..tasks.commerce_o2c_writeback import COMMENT

    res.commerce("o2c")
    if reason := _ledger(res.ledger, INTEGRATION, FOLLOWUPS):
        return reason
    if res.ledger.posted_without_followup(INTEGRATION, "order", FOLLOWUPS, COMMENT, limit=1):
        return "invoiced orders to write back"
    for kind in KINDS:
        if _commerce_after(res, kind, res.ledger.get_cursor(INTEGRATION, kind)):
            return f"{kind} changed in Commerce"
    stored = res.ledger.get_cursor(INTEGRATION, CURSOR)
    if stored is None:
        return "no Intacct customer cursor yet"
    from ..connectors.intacct._xml import DATETIME_FORMAT

    if _intacct_since(res, "CUSTOMER", datetime.strptime(stored, DATETIME_FORMAT).replace(tzinfo=UTC)):
        return "customers modified in Intacct"
    return None


# By ledger integration name (integrations.INTEGRATIONS).
CHECKS: dict[str, Check] = {
    "sps-intacct": sps_intacct,
    "intacct-sps": intacct_sps,
    "sps-qbo": sps_qbo,
    "qbo-sps": qbo_sps,
    "intacct-sterling": intacct_sterling,
    "sterling-inbound": sterling_inbound,
    "commerce-intacct-ap": commerce_ap,
    "commerce-intacct-o2c": commerce_o2c,
}
