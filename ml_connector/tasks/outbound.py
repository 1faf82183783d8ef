"""Intacct -> SPS: record AR invoices and order acknowledgements, and send them as RSX.

Each document is keyed (partner, invoice number) or (partner, PO number) in the ledger, so an
invoice read again in the cursor's overlap window, or an order acknowledged already, is a
duplicate and is not sent twice. The SPS file name is derived from the same key. SPS takes
every file from ``in/`` and passes it on to the retailer, so an upload whose outcome was lost
is looked for in SPS before it is ever sent again (tasks/sps.upload, docs/sps-delivery.md).
"""

from __future__ import annotations

import dataclasses
from datetime import date

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..connectors.errors import BadDocument
from ..connectors.intacct.models import ArInvoice
from ..connectors.sps import rsx
from ..engine.posting import one_line
from ..ledger.revisions import CANCEL
from ..ledger.schema import QUARANTINED, RECEIVED
from ..ledger.store import Claimed, Incoming
from ..mappings.intacct_to_sps import arinvoice_to_rsx, order_to_orderack, partner_for_invoice
from ..mappings.outbound_revisions import intacct_effect, intacct_version, with_purpose
from ..mappings.tenant import TenantMapping
from ..runtime.tenant import tenant as tenant_resources
from .intacct import INTEGRATION as INBOUND
from .retry import retry_options
from .sps import outbox_path, revision_path, send_to_sps

INTEGRATION = "intacct-sps"


def invoice_row(inv: ArInvoice, mapping: TenantMapping) -> Incoming | None:
    """The ledger row of one AR invoice: to send, or quarantined with the reason; None for a
    reversal's counter-entry. Each read is a revision of the invoice (its WHENMODIFIED the
    version): a change goes out as a replacement, a reversed or voided invoice as a cancellation
    (mappings/outbound_revisions.py)."""
    effect = intacct_effect(inv)
    if effect is None:
        return None
    raw = inv.model_dump_json().encode()
    base = dict(doc_type="invoice", natural_key=inv.record_id, source_ref=f"ARINVOICE:{inv.record_no}",
                raw_payload=raw, doc_date=inv.when_created.isoformat(), effect=effect,
                source_version=intacct_version(inv))
    try:
        partner = partner_for_invoice(inv, mapping)
        arinvoice_to_rsx(inv, mapping)  # validate now, so a bad invoice is quarantined at once
    except BadDocument as exc:
        return Incoming(partner=inv.customer_id, **base, status=QUARANTINED, error_class=exc.classification,
                        last_error=one_line(exc))
    fmt = mapping.outbound.invoice_format
    return Incoming(partner=partner, **base, status=RECEIVED, target_ref=outbox_path("invoice", partner, inv.record_id, fmt))


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


def build_rsx(c: Claimed, mapping: TenantMapping, today: date) -> tuple[str, bytes | None]:
    """The SPS path and RSX bytes for one write of an outbound document: an invoice's revision
    under its own path with the purpose its effect calls for (no bytes for a cancellation of
    what was never sent)."""
    if c.doc_type == "invoice":
        fmt = mapping.outbound.invoice_format
        if c.target_ref is None:
            c = dataclasses.replace(c, target_ref=outbox_path("invoice", c.partner, c.natural_key, fmt))
        if c.effect == CANCEL and c.target_id is None:
            return revision_path(c), None
        inv = ArInvoice.model_validate_json(c.raw_payload or b"{}")
        doc = with_purpose(arinvoice_to_rsx(inv, mapping), c.effect)
        content = rsx.encode_json("invoice", doc) if fmt == "json" else rsx.encode_xml("invoice", [doc])
        return revision_path(c), content
    path, _, index = c.source_ref.partition("#")
    docs = rsx.parse(c.raw_payload, filename=path.rsplit("/", 1)[-1])
    _, order = docs[int(index) if index else 0]
    ack = order_to_orderack(order, today)
    return c.target_ref or outbox_path("orderack", c.partner, c.natural_key), rsx.encode_xml("orderack", [ack])


@task(cache_policy=NO_CACHE, **retry_options())
def send_documents(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """Upload the outbound documents ``ids`` to SPS's in/ folder (built from the ledger's
    payloads: ``payloads`` is the pipeline's hand-over, unused here)."""
    res = tenant_resources(tenant)
    today = date.today()
    return send_to_sps(tenant, res.ledger, INTEGRATION, ids, run_id, build=lambda c: build_rsx(c, res.mapping, today))


