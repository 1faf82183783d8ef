"""Adobe Commerce -> Sage Intacct (procure): orders, invoices and credit memos become AP bills,
purchase orders (B2B orders paid by purchase order) and AP adjustments, on the vendor of the
Commerce customer (matched, or created once).

The run is the engine's (engine/run.py) over the procure pipeline (pipelines/commerce_ap.py):
settle what a dead run left half-done; record and post what the stored webhook notifications
name; then (``poll``) page through each kind changed since its cursor; post what is left
received. A backfill (``since``/``until``) reads the same way and leaves the live cursors alone.

Deployed twice over in prefect.yaml: on a schedule (the poll, the safety net) and on the event
``ml-connector.adobe.notification`` the webhook service emits (``poll: false``: only what the
notifications name, at once).
"""

from datetime import datetime

from prefect import flow
from prefect.states import State

from .. import engine
from ..pipelines.commerce_ap import PIPELINE
from ..tasks.run_state import run_name


@flow(name="commerce-to-intacct-ap", log_prints=False, flow_run_name=run_name(PIPELINE.name))
def commerce_to_intacct_ap(
    tenant: str = "demo-commerce",
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    poll: bool = True,
    page_size: int = 100,
) -> State | dict:
    """Post Commerce documents changed since the cursors (and those webhooks named) to Intacct.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Backfill window start (timezone-aware); leaves the live cursors alone.
        until: Backfill window end (timezone-aware).
        dry_run: Read and map, write nothing.
        poll: Read Commerce's changes by cursor; false: only what stored webhook notifications name.
        page_size: Commerce records read per page.
    """
    if (since is not None and since.tzinfo is None) or (until is not None and until.tzinfo is None):
        raise ValueError("since and until must be timezone-aware")
    return engine.run(PIPELINE, tenant, since=since, until=until, dry_run=dry_run, page_size=page_size, poll=poll)
