"""Sage Intacct -> SPS Commerce: AR invoices become RSX Invoices, posted orders get OrderAcks.

The run is the engine's (engine/run.py) over the Intacct -> SPS pipeline
(pipelines/intacct_sps.py, which says how the listing and the uploads stay exactly-once).
"""

from datetime import datetime

from prefect import flow
from prefect.states import State

from .. import engine
from ..pipelines.intacct_sps import PIPELINE
from ..tasks.run_state import run_name


@flow(name="intacct-to-sps", flow_run_name=run_name(PIPELINE.name))
def intacct_to_sps(
    tenant: str = "demo",
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    page_size: int = 500,
) -> State | dict:
    """Send Intacct AR invoices and order acknowledgements to SPS.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Backfill from this WHENMODIFIED (timezone-aware); leaves the live cursor alone.
        until: Backfill up to this WHENMODIFIED.
        dry_run: Read and map, write nothing.
        page_size: Intacct records read per page.
    """
    return engine.run(PIPELINE, tenant, since=since, until=until, dry_run=dry_run, page_size=page_size)
