"""SPS Commerce -> QuickBooks Online: RSX orders become QBO purchase orders.

SPS's ``out/`` is read as for SPS -> Intacct (the same source: pipelines/sps_out.py); each
page is recorded in the ledger, posted (creates in QBO batches of 30, updates of POs found by
DocNumber with their current SyncToken: tasks/qbo.py), consumed from SPS, and only then is the
cursor stored. Invoices and shipments in the feed are recorded as skipped (routed nowhere in
this integration).

A trading partner added to the tenant file without a QBO vendor is onboarded first (the
master-data pipeline's recovery, then its sync for vendors only: the vendor is found by name or
created, and the link recorded in the ledger), so its orders post in this same run; with every
partner linked that step sends no request at all. Items, and vendors in full, are kept aligned
by ``qbo-master-data`` (pipelines/qbo_master.py).
"""

from __future__ import annotations

from prefect.utilities.annotations import opaque

from ..connectors.errors import IntegrationError
from ..engine import Batch, Page, Pipeline, Run
from ..engine.recovery import recover_intents
from ..ledger.schema import POSTED, RECEIVED
from ..ledger.store import Claimed, Outcome
from ..mappings.resend import qbo_po_by_number
from ..mappings.sps_to_qbo import order_rows, remap_order
from ..mappings.tenant import TenantMapping
from ..tasks.ops import finished_runs
from ..tasks.qbo import INBOUND, find_vendor_pos, post_purchase_orders
from ..tasks.qbo_master import effective_mapping, sync_master_data
from ..tasks.sps import consume_files
from . import qbo_master
from .sps_out import file_batch, read


def onboard(run: Run) -> dict:
    """Give partners without a QBO vendor one before their orders are read."""
    master = Run(run.tenant, qbo_master.PIPELINE.name, run.run_id)
    recovered = recover_intents(opaque(qbo_master.PIPELINE), opaque(master),
                                finished_runs(run.tenant, master.integration, run.run_id))
    counts = sync_master_data(run.tenant, run.run_id, vendors_only_missing=True)
    return {f"vendors_{k}": v for k, v in {**recovered, **counts}.items() if v}


def to_rows(run: Run, page: Page) -> Batch:
    """A page's files as ledger rows, with their purchase orders mapped."""
    mapping = effective_mapping(run.resources)
    return file_batch(run, page, lambda path, content: order_rows(path, content, mapping))


def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    """POs a dead run may have created, looked up in QBO by DocNumber on the order's own vendor
    (another vendor's PO may carry the same number: the post step decides what that means)."""
    mapping = effective_mapping(run.resources)
    found = find_vendor_pos(run.resources.qbo(), [c.target_ref for c in stale if c.target_ref])
    outcomes = []
    for c in stale:
        po = found.get((c.target_ref, _vendor_of(c, mapping)))
        outcomes.append(Outcome(c.id, POSTED, target_id=po.id) if po is not None else
                        Outcome(c.id, RECEIVED, error_class="recovered", error="intent without outcome; not in QBO"))
    return outcomes


def _vendor_of(c: Claimed, mapping: TenantMapping) -> str | None:
    try:
        return remap_order(c, mapping).vendor_ref.value  # type: ignore[union-attr]
    except IntegrationError:  # unmappable now: the post step quarantines it with the reason
        return None


PIPELINE = Pipeline(name=INBOUND, read=read, to_rows=to_rows, post=post_purchase_orders, find=find,
                    settle=consume_files, before=(onboard,), resend=qbo_po_by_number)
