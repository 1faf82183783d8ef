"""QuickBooks Online master data: trading partners' vendors and item cross-references, both ways.

One run reads every QBO vendor and item (active or not), plans against the tenant mapping
file and the links recorded earlier (mappings/qbo_master.py holds the rules: which side is
master per field, and how conflicts are recorded, never silently), then carries the plan out:
new partners' vendors and new items are created (or adopted when QBO has them already),
fields the tenant file masters are written to QBO when QBO has not changed them since our last
sync, and every conflict is recorded in the ledger (integration ``qbo-master``) with its
reason, and closed by the first run that finds both sides aligned. The run is the engine's
over pipelines/qbo_master.py.

Scheduled daily in prefect.yaml and runnable at any time (after editing the tenant file, to
onboard a new trading partner at once); the inbound ``sps-to-qbo`` flow also onboards any
partner without a vendor before it reads orders.
"""

from prefect import flow
from prefect.states import State

from .. import engine
from ..pipelines.qbo_master import PIPELINE
from ..tasks.run_state import run_name


@flow(name="qbo-master-data", flow_run_name=run_name(PIPELINE.name))
def qbo_master_data(tenant: str = "demo-qbo") -> State:
    """Align QBO vendors and items with the tenant's trading partners and item cross-reference.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
    """
    return engine.run(PIPELINE, tenant)  # type: ignore[return-value]
