"""Intacct -> SPS: record AR invoices, order acknowledgements and inventory shippers, and send
them as RSX (Invoice, OrderAck, Shipment).

Each document is keyed (partner, invoice number) or (partner, PO number) in the ledger, so an
invoice read again in the cursor's overlap window, or an order acknowledged already, is a
duplicate and is not sent twice. The SPS file name is derived from the same key. SPS takes
every file from ``in/`` and passes it on to the retailer, so an upload whose outcome was lost
is looked for in SPS before it is ever sent again (tasks/sps.upload, docs/sps-delivery.md).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..connectors.errors import BadDocument
from ..connectors.intacct._xml import DATETIME_FORMAT
from ..connectors.intacct.functions import quote
from ..connectors.intacct.listing import OVERLAP
from ..connectors.intacct.models import ArInvoice
from ..connectors.sps import rsx
from ..engine.posting import one_line
from ..ledger.revisions import CANCEL
from ..ledger.schema import QUARANTINED, RECEIVED
from ..ledger.store import Claimed, Incoming
from ..mappings.intacct_shipments import (
    SHIPPER,
    Shipper,
    partner_for_shipper,
    shipper_from_record,
    shipper_to_rsx,
    shipper_version,
)
from ..mappings.intacct_to_sps import arinvoice_to_rsx, order_to_orderack, partner_for_invoice
from ..mappings.outbound_revisions import intacct_effect, intacct_version, with_purpose
from ..mappings.tenant import TenantMapping
from ..runtime.tenant import tenant as tenant_resources
from .intacct import INTEGRATION as INBOUND
from .retry import retry_options
from .sps import outbox_path, revision_path, send_to_sps

INTEGRATION = "intacct-sps"
MAX_SHIPPER_PAGES = 1000


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
SHIPMENTS_CURSOR = "shippers"  # WHENMODIFIED high-water mark of the inventory shippers read


def shipment_row(ship: Shipper, mapping: TenantMapping) -> Incoming:
    """The ledger row of one Intacct inventory shipper: an RSX Shipment for the partner of the
    customer it ships to, keyed by its DOCID, a revision per WHENMODIFIED (a change goes out as a
    replacement); or quarantined with the reason."""
    base = dict(doc_type="shipment", natural_key=ship.doc_id, source_ref=f"INVDOCUMENT:{ship.record_no}",
                raw_payload=ship.model_dump_json().encode(), doc_date=ship.when_created.isoformat(),
                effect="update", source_version=shipper_version(ship))
    try:
        partner = partner_for_shipper(ship, mapping)
        shipper_to_rsx(ship, mapping)  # validate now, so a bad shipper is quarantined at once
    except BadDocument as exc:
        customers = sorted({line.customer_id or "" for line in ship.lines})
        return Incoming(partner=f"customer:{','.join(customers)}", **base, status=QUARANTINED,  # type: ignore[arg-type]
                        error_class=exc.classification, last_error=one_line(exc))
    return Incoming(partner=partner, **base, status=RECEIVED,  # type: ignore[arg-type]
                    target_ref=outbox_path("shipment", partner, ship.doc_id, mapping.outbound.invoice_format))


@task(cache_policy=NO_CACHE, **retry_options())
def read_shippers(tenant: str, since: datetime | None) -> list[Shipper]:
    """The inventory shippers modified since ``since`` (all without it), with their lines."""
    client = tenant_resources(tenant).intacct()
    query = f"DOCPARID = {quote(SHIPPER)}"
    if since is not None:
        query += f" AND WHENMODIFIED >= {quote(since.strftime(DATETIME_FORMAT))}"
    page = client.read_by_query("INVDOCUMENT", query)
    keys = [r["RECORDNO"] for r in page.records if r.get("RECORDNO")]
    for _ in range(MAX_SHIPPER_PAGES):
        if not page.num_remaining or not page.result_id:
            break
        page = client.read_more(page.result_id)
        keys += [r["RECORDNO"] for r in page.records if r.get("RECORDNO")]
    return [shipper_from_record(r) for r in client.read_full("INVDOCUMENT", keys)] if keys else []


@task(cache_policy=NO_CACHE)
def queue_shipments(tenant: str, run_id: str) -> list[int]:
    """Record the inventory shippers modified since the stored mark (minus an overlap the
    ledger makes harmless) as RSX shipments to send; the mark moves once they are recorded.
    Returns the ids to send."""
    res = tenant_resources(tenant)
    stored = res.ledger.get_cursor(INTEGRATION, SHIPMENTS_CURSOR)
    since = datetime.fromisoformat(stored) - OVERLAP if stored else None
    shippers = read_shippers.fn(tenant, since)
    ids = res.ledger.ingest(INTEGRATION, [shipment_row(s, res.mapping) for s in shippers], run_id).new_ids
    if shippers:
        res.ledger.set_cursor(INTEGRATION, max(s.when_modified for s in shippers).isoformat(), SHIPMENTS_CURSOR)
    return ids


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
    if c.doc_type == "shipment":
        fmt = mapping.outbound.invoice_format
        if c.target_ref is None:
            c = dataclasses.replace(c, target_ref=outbox_path("shipment", c.partner, c.natural_key, fmt))
        if c.effect == CANCEL and c.target_id is None:
            return revision_path(c), None
        shipment = with_purpose(shipper_to_rsx(Shipper.model_validate_json(c.raw_payload or b"{}"), mapping), c.effect)
        content = rsx.encode_json("shipment", shipment) if fmt == "json" else rsx.encode_xml("shipment", [shipment])
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


