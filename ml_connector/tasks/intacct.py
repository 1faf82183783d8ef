"""Prefect tasks over the Intacct connector: post AP bill revisions (tasks/intacct_bills.py), read AR invoices."""

from __future__ import annotations

import logging
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from ..connectors.intacct.models import ArInvoice
from ..engine.posting import post_documents
from ..ledger.store import Claimed
from ..mappings.intacct_bill_revisions import BillWrite
from ..mappings.sps_rows import claimed_write
from ..runtime.tenant import tenant as tenant_resources
from .intacct_bills import find_bills, find_revisions, find_sales_orders, write_bills
from .retry import retry_options

__all__ = ["BATCH", "INTEGRATION", "find_bills", "find_revisions", "find_sales_orders", "post_bills", "read_ar_page",
           "write_bills"]

log = logging.getLogger("ml_connector.tasks.intacct")

INTEGRATION = "sps-intacct"
BATCH = 100  # functions per request envelope: one HTTP request posts up to 100 bills


# Never cached (see tasks/sps.py): posting and reading are side effects or live data.
@task(cache_policy=NO_CACHE, **retry_options())
def post_bills(tenant: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict[str, int]:
    """Post the revisions ``ids`` to their AP bills (create, update, delete or reverse), reusing
    what the page mapped when it is of the claimed content (``payloads`` by (doc_type, partner,
    natural_key): ``(payload hash, BillWrite)``)."""
    res = tenant_resources(tenant)
    mapped = payloads or {}

    def build(c: Claimed) -> BillWrite:
        return claimed_write(c, mapped.get((c.doc_type, c.partner, c.natural_key)), res.mapping)

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
