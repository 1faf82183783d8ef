"""SPS Commerce -> Sage Intacct: RSX orders, invoices and shipments become AP bills.

The source is SPS's ``out/`` folder (pipelines/sps_out.py: paged by file name, the next page
downloading while this one is recorded and posted, files consumed once durable, a backfill
window leaving files dated outside it untouched in SPS).
"""

from __future__ import annotations

from ..engine import Batch, Page, Pipeline, Run
from ..ledger.schema import POSTED, RECEIVED
from ..ledger.store import Claimed, Outcome
from ..mappings.sps_rows import unwrap
from ..mappings.sps_to_intacct import parse_bill_ref
from ..tasks.intacct import INTEGRATION, find_bills, post_bills
from ..tasks.sps import consume_files
from .sps_out import file_batch, read


def to_rows(run: Run, page: Page) -> Batch:
    """A page's files as ledger rows, with their bills mapped."""
    mapping = run.resources.mapping
    return file_batch(run, page, lambda path, content: unwrap(path, content, mapping))


def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    """Bills a dead run may have created, looked up in Intacct by vendor and bill number."""
    refs = {c.id: ref for c in stale if c.target_ref and (ref := parse_bill_ref(c.target_ref))}
    found = find_bills(run.resources.intacct(), list(set(refs.values())))
    return [Outcome(c.id, POSTED, target_id=found[refs[c.id]]) if refs.get(c.id) in found
            else Outcome(c.id, RECEIVED, error_class="recovered", error="intent without outcome; not found in Intacct")
            for c in stale]


PIPELINE = Pipeline(name=INTEGRATION, read=read, to_rows=to_rows, post=post_bills, find=find, settle=consume_files)
