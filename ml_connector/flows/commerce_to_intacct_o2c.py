"""Adobe Commerce -> Sage Intacct, order to cash.

The run is the engine's (engine/run.py) over the order-to-cash pipeline
(pipelines/commerce_o2c.py, which says how the kinds are read, posted in dependency order per
Intacct entity, and followed by the customer master and the invoice key write-back).
"""

from datetime import datetime

from prefect import flow
from prefect.states import State

from .. import engine
from ..pipelines.commerce_o2c import PIPELINE, with_envelope
from ..tasks.commerce_o2c_post import ENVELOPE
from ..tasks.run_state import run_name


@flow(name="commerce-to-intacct-o2c", flow_run_name=run_name(PIPELINE.name))
def commerce_to_intacct_o2c(
    tenant: str = "demo-commerce",
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    page_size: int = 100,
    envelope_size: int = ENVELOPE,
) -> State | dict:
    """Adobe Commerce orders, payments, customers, products, shipments and refunds -> Intacct AR.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Backfill window start (Commerce updated_at, timezone-aware); leaves the live cursors alone.
        until: Backfill window end.
        dry_run: Read and map, write nothing.
        page_size: Commerce records read per page.
        envelope_size: Intacct functions per request.
    """
    return engine.run(with_envelope(envelope_size), tenant, since=since, until=until, dry_run=dry_run,
                      page_size=page_size)
