"""Adobe Commerce <-> Sage Intacct vendor master: the vendors the procure integration matched or
created, kept aligned with their Commerce customers both ways under the tenant's documented
conflict rule; every conflict is written to the ledger (integration ``commerce-ap-vendors``,
doc type ``conflict``) with the decision.

The run is the engine's (engine/run.py) over the vendor master pipeline
(pipelines/commerce_ap_vendors.py). Scheduled daily in prefect.yaml and runnable at any time;
vendors themselves are created by ``commerce-to-intacct-ap`` when a customer's first document
posts.
"""

from prefect import flow
from prefect.states import State

from .. import engine
from ..pipelines.commerce_ap_vendors import PIPELINE
from ..tasks.run_state import run_name


@flow(name="commerce-ap-vendor-master", flow_run_name=run_name(PIPELINE.name))
def commerce_ap_vendor_master(tenant: str = "demo-commerce") -> State:
    """Align linked Intacct vendors and Commerce customers; record every conflict.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
    """
    return engine.run(PIPELINE, tenant)  # type: ignore[return-value]
