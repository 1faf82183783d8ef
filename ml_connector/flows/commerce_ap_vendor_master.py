"""Adobe Commerce <-> Sage Intacct vendor master: the vendors the procure integration matched or
created, kept aligned with their Commerce customers both ways under the tenant's documented
conflict rule (tasks/commerce_ap_master.py); every conflict is written to the ledger
(integration ``commerce-ap-vendors``, doc type ``conflict``) with the decision.

Scheduled daily in prefect.yaml and runnable at any time; vendors themselves are created by
``commerce-to-intacct-ap`` when a customer's first document posts.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import State

from ..tasks.commerce_ap_master import sync_vendor_master
from ..tasks.commerce_ap_vendors import MASTER
from ..tasks.run_state import finish_run, run_name
from ..engine import current_run_id


@flow(name="commerce-ap-vendor-master", flow_run_name=run_name(MASTER))
def commerce_ap_vendor_master(tenant: str = "demo-commerce") -> State:
    """Align linked Intacct vendors and Commerce customers; record every conflict.

    Args:
        tenant: The tenant whose mapping file, credentials and ledger the run uses.
    """
    run_id = current_run_id()
    return finish_run(tenant, MASTER, run_id, extra=sync_vendor_master(tenant, run_id))
