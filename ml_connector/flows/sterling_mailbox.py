"""IBM Sterling mailbox polling (default every 2 minutes): partners' 997s settle our outbound
810/850 as accepted or rejected (with the AK reasons), documents without a 997 past the
tenant's deadline turn overdue (a WARNING alert, a count in the report, a Prefect event), and
other inbound X12 (partners' 850s) is parsed and stored; unreadable files are quarantined.

The run is the engine's (engine/run.py) over the mailbox pipeline (pipelines/sterling_inbound.py).
"""

from prefect import flow
from prefect.states import State

from .. import engine
from ..pipelines.sterling_inbound import PIPELINE, pipeline
from ..tasks.run_state import run_name


@flow(name="sterling-mailbox", flow_run_name=run_name(PIPELINE.name))
def sterling_mailbox(tenant: str = "demo", overdue_after_minutes: float | None = None,
                     dry_run: bool = False) -> State | dict:
    """Poll every configured partner's Outbox, then flag overdue acknowledgments.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
        overdue_after_minutes: Overrides the tenant's 997 deadline for this run.
        dry_run: Read and map, write nothing (no message is marked extracted).
    """
    return engine.run(pipeline(overdue_after_minutes), tenant, dry_run=dry_run)
