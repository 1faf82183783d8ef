"""Sage Intacct -> IBM Sterling B2Bi: vendors as trading partners; AP bills as X12 810 and
purchase orders as X12 850, delivered into each partner's Sterling Inbox.

The run is the engine's (engine/run.py) over the Intacct -> Sterling pipeline
(pipelines/intacct_sterling.py, which says how partners, listings and deliveries stay
exactly-once).
"""

from datetime import datetime

from prefect import flow
from prefect.states import State

from .. import engine
from ..pipelines.intacct_sterling import PIPELINE
from ..tasks.run_state import run_name


@flow(name="intacct-to-sterling", flow_run_name=run_name(PIPELINE.name))
def intacct_to_sterling(
    tenant: str = "demo",
    since: datetime | None = None,
    until: datetime | None = None,
    dry_run: bool = False,
    page_size: int = 500,
) -> State | dict:
    """Sync vendors to Sterling partners and deliver AP bills (810) and POs (850) as X12.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        since: Backfill from this WHENMODIFIED (timezone-aware); leaves the live cursors alone.
        until: Backfill up to this WHENMODIFIED.
        dry_run: Read and map, write nothing (partners included).
        page_size: Intacct records read per page.
    """
    return engine.run(PIPELINE, tenant, since=since, until=until, dry_run=dry_run, page_size=page_size)
