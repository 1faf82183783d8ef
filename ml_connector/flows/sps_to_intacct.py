"""SPS Commerce -> Sage Intacct: RSX orders, invoices and shipments become AP bills.

The run is the engine's (engine/run.py) over the SPS -> Intacct pipeline
(pipelines/sps_intacct.py). A backfill (``since``/``until``) reads the same way but leaves
documents outside its window, and the live cursor, alone.
"""

from datetime import date

from prefect import flow
from prefect.states import State

from .. import engine
from ..pipelines.sps_intacct import PIPELINE
from ..tasks.run_state import run_name


@flow(name="sps-to-intacct", log_prints=False, flow_run_name=run_name(PIPELINE.name))
def sps_to_intacct(
    tenant: str = "demo",
    since: date | None = None,
    until: date | None = None,
    dry_run: bool = False,
    page_size: int = 500,
) -> State | dict:
    """Poll SPS for new RSX documents and post them to Intacct as AP bills.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Backfill window start (document date); leaves the live cursor alone.
        until: Backfill window end (document date).
        dry_run: Read and map, write nothing.
        page_size: SPS files listed per page.
    """
    return engine.run(PIPELINE, tenant, since=since, until=until, dry_run=dry_run, page_size=page_size)
