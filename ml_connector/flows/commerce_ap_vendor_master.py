"""Adobe Commerce <-> Sage Intacct vendor master: the vendors the procure integration matched or
created, kept aligned with their Commerce customers both ways under the tenant's documented
conflict rule (tasks/commerce_ap_master.py); every conflict is written to the ledger
(integration ``commerce-ap-vendors``, doc type ``conflict``) with the decision.

Scheduled daily in prefect.yaml and runnable at any time; vendors themselves are created by
``commerce-to-intacct-ap`` when a customer's first document posts.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from ..tasks.commerce_ap_master import sync_vendor_master
from ..tasks.commerce_ap_vendors import MASTER
from ..tasks.ops import publish_report
from .sps_to_intacct import current_run_id


@flow(name="commerce-ap-vendor-master")
def commerce_ap_vendor_master(tenant: str = "demo-commerce") -> dict:
    """Align linked Intacct vendors and Commerce customers; record every conflict."""
    run_id = current_run_id()
    counts = sync_vendor_master(tenant, run_id)
    report = publish_report(tenant, MASTER, run_id, extra=counts)
    get_run_logger().info("commerce-ap-vendor-master for %s: %s", tenant, report)
    return report
