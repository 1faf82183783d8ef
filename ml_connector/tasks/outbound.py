"""Intacct -> SPS: record AR invoices and order acknowledgements, and send them as RSX.

Each document is keyed (partner, invoice number) or (partner, PO number) in the ledger, so an
invoice read again in the cursor's overlap window, or an order acknowledged already, is a
duplicate and is not sent twice. The SPS file name is derived from the same key. SPS takes
every file from ``in/`` and passes it on to the retailer, so an upload whose outcome was lost
is looked for in SPS before it is ever sent again (tasks/sps.upload, docs/sps-delivery.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..connectors.errors import BadDocument
from ..connectors.intacct.models import ArInvoice
from ..connectors.sps import delivery, rsx
from ..connectors.sps.delivery import Attempt, DeliveryUnknown
from ..ledger.schema import POSTED, POSTING, QUARANTINED, RECEIVED
from ..ledger.store import Claimed, Incoming, Outcome
from ..mappings.intacct_to_sps import arinvoice_to_rsx, order_to_orderack, partner_for_invoice
from ..mappings.tenant import TenantMapping
from .inbound import INTEGRATION as INBOUND
from .posting import one_line
from .resources import tenant as tenant_resources
from .retry import retry_options
from .sps import outbox_path, send_to_sps, unsure_attempt

INTEGRATION = "intacct-sps"


@dataclass
class ArPageReport:
    new_ids: list[int] = field(default_factory=list)
    max_modified: datetime | None = None
    duplicates: int = 0
    quarantined: int = 0


def invoice_row(inv: ArInvoice, mapping: TenantMapping) -> Incoming:
    """The ledger row of one AR invoice: to send, or quarantined with the reason."""
    raw = inv.model_dump_json().encode()
    base = dict(doc_type="invoice", natural_key=inv.record_id, source_ref=f"ARINVOICE:{inv.record_no}",
                raw_payload=raw, doc_date=inv.when_created.isoformat())
    try:
        partner = partner_for_invoice(inv, mapping)
        arinvoice_to_rsx(inv, mapping)  # validate now, so a bad invoice is quarantined at once
    except BadDocument as exc:
        return Incoming(partner=inv.customer_id, **base, status=QUARANTINED, error_class=exc.classification,
                        last_error=one_line(exc))
    fmt = mapping.outbound.invoice_format
    return Incoming(partner=partner, **base, status=RECEIVED, target_ref=outbox_path("invoice", partner, inv.record_id, fmt))


# Never cached (as in tasks/sps.py): every task here reads or changes the ledger or SPS, and
# the default policy would cloudpickle a page of 500 invoices only to compute an unused key.
@task(cache_policy=NO_CACHE)
def ingest_ar_invoices(tenant: str, invoices: list[ArInvoice], run_id: str) -> ArPageReport:
    """Record a page of AR invoices in the ledger."""
    res = tenant_resources(tenant)
    rows = [invoice_row(inv, res.mapping) for inv in invoices]
    result = res.ledger.ingest(INTEGRATION, rows, run_id)
    return ArPageReport(
        new_ids=result.new_ids,
        max_modified=max((inv.when_modified for inv in invoices), default=None),
        duplicates=result.duplicates,
        quarantined=result.quarantined,
    )


ACK_BATCH = 1000  # posted orders turned into acknowledgements per round


@task(cache_policy=NO_CACHE)
def queue_orderacks(tenant: str, run_id: str, limit: int | None = None) -> list[int]:
    """Create an acknowledgement row for every inbound order posted to Intacct and not yet
    acknowledged; returns the new rows' ids."""
    res = tenant_resources(tenant)
    if not res.mapping.outbound.send_orderacks:
        return []
    orders = res.ledger.posted_without_followup(INBOUND, "order", INTEGRATION, "orderack", limit=limit or ACK_BATCH)
    fmt = "xml"
    rows = [
        Incoming(doc_type="orderack", partner=o.partner, natural_key=o.natural_key, source_ref=o.source_ref,
                 raw_payload=o.raw_payload, target_ref=outbox_path("orderack", o.partner, o.natural_key, fmt),
                 doc_date=o.doc_date)
        for o in orders
    ]
    return res.ledger.ingest(INTEGRATION, rows, run_id).new_ids


def build_rsx(c: Claimed, mapping: TenantMapping, today: date) -> tuple[str, bytes]:
    """The SPS path and RSX bytes for one outbound document."""
    if c.doc_type == "invoice":
        inv = ArInvoice.model_validate_json(c.raw_payload)
        doc = arinvoice_to_rsx(inv, mapping)
        fmt = mapping.outbound.invoice_format
        content = rsx.encode_json("invoice", doc) if fmt == "json" else rsx.encode_xml("invoice", [doc])
        return c.target_ref or outbox_path("invoice", c.partner, c.natural_key, fmt), content
    path, _, index = c.source_ref.partition("#")
    docs = rsx.parse(c.raw_payload, filename=path.rsplit("/", 1)[-1])
    _, order = docs[int(index) if index else 0]
    ack = order_to_orderack(order, today)
    return c.target_ref or outbox_path("orderack", c.partner, c.natural_key), rsx.encode_xml("orderack", [ack])


@task(cache_policy=NO_CACHE)
def requeue_stale_uploads(tenant: str, run_id: str, finished_runs: list[str], lease: timedelta | None = None,
                          integration: str = INTEGRATION) -> int:
    """Settle uploads a dead run left between intent and outcome; returns how many.

    Whether each reached SPS is unknown, and SPS passes on whatever it takes from ``in/``, so
    none is simply sent again: each goes back to received as "delivery unknown", with the
    window in which its upload may have landed (from its intent, or from the earlier unsure
    upload it carried, until now: the run may have been uploading it until it died). The upload
    step looks for it in SPS before anything is sent (tasks/sps.upload): still in ``in/`` or
    in the history -> posted; absent from a history complete past that window -> uploaded; too
    recent to tell -> left for a later run. Any integration that uploads to SPS by
    ``outbox_path`` can use it (``integration``; qbo-sps too)."""
    res = tenant_resources(tenant)
    # as the dead runs left them: stale_intents re-stamps intent_at when it takes them over
    left = {r.id: r for r in res.ledger.documents(integration, status=POSTING)}
    stale = res.ledger.stale_intents(integration, run_ids=finished_runs, older_than=lease, claimer=run_id)
    if not stale:
        return 0
    now = delivery.utcnow()
    late = {r.id: r for r in res.ledger.documents(integration, ids=[c.id for c in stale if c.id not in left])}
    outcomes = []
    for c in stale:
        path = c.target_ref or ""
        row = left.get(c.id)
        # a row that turned up in posting after the read above: from its creation, to be sure
        attempt = unsure_attempt(row, path, until=now) if row is not None else \
            Attempt(path, delivery.aware(late[c.id].created_at), now)
        outcomes.append(Outcome(c.id, RECEIVED, error_class=DeliveryUnknown.classification,
                                error=one_line(DeliveryUnknown.of(attempt, "intent without outcome"))))
    res.ledger.record_outcomes(integration, outcomes, run_id)
    return len(stale)


@task(cache_policy=NO_CACHE, **retry_options())
def send_documents(tenant: str, ids: list[int], run_id: str) -> dict[str, int]:
    """Upload the outbound documents ``ids`` to SPS's in/ folder."""
    res = tenant_resources(tenant)
    today = date.today()
    return send_to_sps(tenant, res.ledger, INTEGRATION, ids, run_id, build=lambda c: build_rsx(c, res.mapping, today))


__all__ = ["INTEGRATION", "ingest_ar_invoices", "queue_orderacks", "requeue_stale_uploads", "send_documents", "POSTED"]
