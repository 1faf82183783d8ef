"""QuickBooks Online -> SPS Commerce: QBO invoices become RSX invoices (and shipments) for the
customer's partner.

The run is the engine's (engine/run.py) over the QBO -> SPS pipeline (pipelines/qbo_sps.py):
the invoices webhook notifications name first, then CDC since the cursor, the safety net. A
run killed between intent and outcome leaves invoices in ``posting`` and notifications taken:
the next run settles both, at once for runs that are over and after the intent lease
otherwise; such an invoice is looked for in SPS before it is sent again.
"""

from datetime import datetime

from prefect import flow
from prefect.states import State

from .. import engine
from ..pipelines.qbo_sps import PIPELINE
from ..tasks.run_state import run_name


@flow(name="qbo-to-sps", flow_run_name=run_name(PIPELINE.name))
def qbo_to_sps(tenant: str = "demo-qbo", since: datetime | None = None, dry_run: bool = False) -> State | dict:
    """Send QBO invoices changed since the cursor (and those webhooks named) to SPS.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Backfill from this time (timezone-aware; CDC, or a query beyond its 30 days);
            leaves the live cursor alone.
        dry_run: Read and map, write nothing (webhook notifications stay waiting).
    """
    if since is not None and since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    return engine.run(PIPELINE, tenant, since=since, dry_run=dry_run)
