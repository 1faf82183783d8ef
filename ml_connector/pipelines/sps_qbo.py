"""SPS Commerce -> QuickBooks Online: RSX orders become QBO purchase orders.

SPS's ``out/`` is read as for SPS -> Intacct (the same source: pipelines/sps_out.py); each
page is recorded in the ledger, posted (creates in QBO batches of 30, updates of POs found by
DocNumber with their current SyncToken: tasks/qbo.py), consumed from SPS, and only then is the
cursor stored. Invoices and shipments in the feed are recorded as skipped (routed nowhere in
this integration).

Orders live (docs/revisions-sps-qbo.md): an order's purpose code is its ledger effect, so a
change (04) or replacement (05) of a posted order updates its PO with the current SyncToken, a
cancellation (01) closes it, and a PO received in QBO (billed) is left to a person, quarantined
with the reason; each revision is written once, and a dead run's revision is found by its key.

A trading partner added to the tenant file without a QBO vendor is onboarded first (the
master-data pipeline's recovery, then its sync for vendors only: the vendor is found by name or
created, and the link recorded in the ledger), so its orders post in this same run; with every
partner linked that step sends no request at all. Items, and vendors in full, are kept aligned
by ``qbo-master-data`` (pipelines/qbo_master.py).
"""

from __future__ import annotations

from prefect.utilities.annotations import opaque

from ..connectors.errors import IntegrationError, NotFound
from ..connectors.qbo import PurchaseOrder
from ..engine import Batch, Page, Pipeline, Run
from ..engine.recovery import recover_intents
from ..ledger.schema import POSTED, RECEIVED
from ..ledger.store import Claimed, Outcome
from ..mappings.qbo_preview import preview_purchase_orders
from ..mappings.resend import qbo_po_by_number
from ..mappings.sps_to_qbo import carries_revision, order_rows, remap_order
from ..mappings.tenant import TenantMapping
from ..ops.reconcile_ref import Reconciliation
from ..tasks.ops import finished_runs
from ..tasks.qbo import INBOUND, REVISIONS, find_vendor_pos, post_purchase_orders
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
    """What a dead run's writes left in QBO. A create: the PO looked up by DocNumber on the
    order's own vendor (another vendor's PO may carry the same number: the post step decides
    what that means). A revision of a PO in QBO (change, replacement, cancellation): the PO read
    by Id, written when its PrivateNote carries the revision's key; else posted again."""
    mapping = effective_mapping(run.resources)
    client = run.resources.qbo()
    creates = [c for c in stale if not _revises(c)]
    found = find_vendor_pos(client, [c.target_ref for c in creates if c.target_ref])
    outcomes = []
    for c in stale:
        if _revises(c):
            outcomes.append(_revision_outcome(client, c))
            continue
        po = found.get((c.target_ref, _vendor_of(c, mapping)))
        outcomes.append(Outcome(c.id, POSTED, target_id=po.id) if po is not None else
                        Outcome(c.id, RECEIVED, error_class="recovered", error="intent without outcome; not in QBO"))
    return outcomes


def _revises(c: Claimed) -> bool:
    return c.effect in REVISIONS and c.target_id is not None


def _revision_outcome(client, c: Claimed) -> Outcome:
    try:
        po = client.read("PurchaseOrder", c.target_id)
    except NotFound:
        po = None
    if isinstance(po, PurchaseOrder) and carries_revision(po, c.idempotency_key):
        return Outcome(c.id, POSTED, target_id=po.id)
    return Outcome(c.id, RECEIVED, error_class="recovered",
                   error=f"intent without outcome; revision {c.revision} not in QBO")


def _vendor_of(c: Claimed, mapping: TenantMapping) -> str | None:
    try:
        return remap_order(c, mapping).vendor_ref.value  # type: ignore[union-attr]
    except IntegrationError:  # unmappable now: the post step quarantines it with the reason
        return None


PIPELINE = Pipeline(name=INBOUND, read=read, to_rows=to_rows, post=post_purchase_orders, find=find,
                    reconcile=Reconciliation("reconcile_qbo", "sps_qbo_frames"),
                    settle=consume_files, before=(onboard,), resend=qbo_po_by_number, preview=preview_purchase_orders)
