"""Prefect tasks over the Intacct connector: post AP bills, read AR invoices."""

from __future__ import annotations

import logging
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from ..connectors.errors import DuplicateWrite, RejectedError
from ..connectors.intacct.models import ApBill, ArInvoice
from ..ledger.store import Claimed
from ..mappings.sps_rows import remap
from ..engine.posting import Prepared, WriteResult, post_documents
from ..runtime.tenant import Tenant
from ..runtime.tenant import tenant as tenant_resources
from .retry import retry_options

log = logging.getLogger("ml_connector.tasks.intacct")

INTEGRATION = "sps-intacct"
BATCH = 100  # functions per request envelope: one HTTP request posts up to 100 bills


def write_bills(res: Tenant, prepared: list[Prepared[ApBill]]) -> list[WriteResult]:
    """Create bills in one envelope (transaction="false", uniqueid=true, function controlid =
    the document's idempotency key). A function Intacct reports as already done is looked up
    by its bill number, so a retry after a lost response records the existing bill."""
    client = res.intacct()
    results = client.create_bills([(p.claimed.idempotency_key, p.payload) for p in prepared])
    out: list[WriteResult | None] = []
    replayed: dict[tuple[str, str], int] = {}
    for n, (p, r) in enumerate(zip(prepared, results, strict=True)):
        if r.ok:
            out.append(WriteResult(ok=True, target_id=r.key))
        elif isinstance(r.error, DuplicateWrite):
            replayed[(p.payload.vendor_id, p.payload.record_id)] = n
            out.append(None)
        else:
            out.append(WriteResult(ok=False, error=r.error))
    found = find_bills(client, list(replayed))
    for ref, n in replayed.items():
        out[n] = WriteResult(ok=True, target_id=found[ref]) if ref in found else WriteResult(ok=False, error=RejectedError(
            f"Intacct reports bill {ref[1]} of vendor {ref[0]} as already created but it cannot be found",
            system="intacct", operation="create_bills"))
    return out  # type: ignore[return-value]


def find_bills(client, refs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """RECORDNO of existing bills by (vendor, bill number), one query per vendor."""
    by_vendor: dict[str, list[str]] = {}
    for vendor, record_id in refs:
        by_vendor.setdefault(vendor, []).append(record_id)
    found = {}
    for vendor, record_ids in by_vendor.items():
        for record_id, recno in client.find_bills(record_ids, vendor_id=vendor).items():
            found[(vendor, record_id)] = recno
    return found


# Never cached (see tasks/sps.py): posting and reading are side effects or live data.
@task(cache_policy=NO_CACHE, **retry_options())
def post_bills(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """Post the documents ``ids`` as AP bills, reusing the bills mapped at ingest when given
    (``payloads`` by (doc_type, partner, natural_key))."""
    res = tenant_resources(tenant)
    bills = payloads or {}

    def build(c: Claimed) -> ApBill:
        bill = bills.get((c.doc_type, c.partner, c.natural_key))
        return bill if bill is not None else remap(c.raw_payload, c.source_ref, res.mapping)[2]

    return post_documents(res.ledger, INTEGRATION, ids, run_id, build=build,
                          write=lambda prepared: write_bills(res, prepared), batch_size=BATCH)


class ArPage(BaseModel):
    invoices: list[ArInvoice]
    result_id: str | None
    num_remaining: int


@task(cache_policy=NO_CACHE, **retry_options())
def read_ar_page(tenant: str, since: datetime, until: datetime | None, result_id: str | None,
                 page_size: int = 500) -> ArPage:
    """One page of AR invoices modified in [since, until): the first page starts the query
    (readByQuery), later ones continue it by result id (readMore)."""
    client = tenant_resources(tenant).intacct()
    if result_id:
        page = client.read_more_ar_invoices(result_id)
    else:
        page = client.read_ar_invoices(since, until, page_size=page_size)
    return ArPage(invoices=page.invoices, result_id=page.result_id, num_remaining=page.num_remaining)
