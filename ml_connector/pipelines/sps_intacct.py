"""SPS Commerce -> Sage Intacct: RSX orders, invoices and shipments become AP bills, and their
revisions (RSX purpose codes: change, replace, cancellation) update, delete or reverse them
(docs/revisions-sps-intacct.md).

The source is SPS's ``out/`` folder (pipelines/sps_out.py: paged by file name, the next page
downloading while this one is recorded and posted, files consumed once durable, a backfill
window leaving files dated outside it untouched in SPS).
"""

from __future__ import annotations

from ..engine import Batch, Page, Pipeline, Run
from ..ledger.schema import POSTED, RECEIVED
from ..ledger.store import Claimed, Outcome
from ..mappings.intacct_bill_revisions import parse_sales_order_ref
from ..mappings.intacct_previews import preview_bills
from ..mappings.resend import intacct_bill_in_place
from ..mappings.sps_rows import unwrap
from ..mappings.sps_to_intacct import parse_bill_ref
from ..ops.reconcile_ref import Reconciliation
from ..tasks.intacct import INTEGRATION, find_bills, find_revisions, find_sales_orders, post_bills
from ..tasks.sps import consume_files
from .sps_out import file_batch, read


def to_rows(run: Run, page: Page) -> Batch:
    """A page's files as ledger rows, with their bills mapped."""
    mapping = run.resources.mapping
    return file_batch(run, page, lambda path, content: unwrap(path, content, mapping))


def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    """What a dead run's writes left in Intacct: a create is looked up by vendor and bill number;
    a change or cancel by the state it leaves (the bill holds the revision, or is gone/reversed).
    Found -> posted; not found -> received, written again under the same idempotency key."""
    client = run.resources.intacct()
    changes = find_revisions(client, stale, run.resources.mapping)
    sales_orders = find_sales_orders(client, stale)
    creates = [c for c in stale if c.id not in changes and parse_sales_order_ref(c.target_ref) is None]
    refs = {c.id: ref for c in creates if c.target_ref and (ref := parse_bill_ref(c.target_ref))}
    found = find_bills(client, list(set(refs.values()))) if refs else {}
    outcomes = []
    for c in stale:
        if c.id in sales_orders:
            outcomes.append(Outcome(c.id, POSTED, target_id=sales_orders[c.id]))
        elif changes.get(c.id) or refs.get(c.id) in found:
            outcomes.append(Outcome(c.id, POSTED, target_id=None if c.id in changes else found[refs[c.id]]))
        else:
            what = "revision not applied in Intacct" if c.id in changes else "not found in Intacct"
            outcomes.append(Outcome(c.id, RECEIVED, error_class="recovered", error=f"intent without outcome; {what}"))
    return outcomes


PIPELINE = Pipeline(name=INTEGRATION, read=read, to_rows=to_rows, post=post_bills, find=find, settle=consume_files,
                    reconcile=Reconciliation("reconcile_sps_intacct", "bills_frames"),
                    resend=intacct_bill_in_place, preview=preview_bills)
