"""SPS Commerce -> Sage Intacct: RSX orders, invoices and shipments become AP bills.

The reader pages through SPS's ``out/`` folder by file name, downloading the next page while
the engine records and posts this one; files are consumed (deleted) once their documents are
durable in the ledger. The cursor names the last file listed and is stored page by page; at the
end of the listing it resets, because consumed files are gone and a name-ordered cursor would
otherwise skip new files that sort before it. A backfill window leaves files dated outside it
untouched in SPS.
"""

from __future__ import annotations

from typing import Iterator

from ..engine import Batch, Page, Pipeline, Run
from ..ledger.schema import POSTED, RECEIVED
from ..ledger.store import Claimed, Outcome
from ..mappings.sps_rows import in_window, refused_row, unwrap
from ..mappings.sps_to_intacct import parse_bill_ref
from ..tasks.intacct import INTEGRATION, find_bills, post_bills
from ..tasks.sps import FetchedPage, consume_files, fetch_page


def read(run: Run, cursor: str | None) -> Iterator[Page]:
    upcoming = fetch_page.submit(run.tenant, cursor, run.page_size)
    while True:
        fetched: FetchedPage = upcoming.result()
        if fetched.next_cursor is not None:
            # The next page downloads while this one is recorded, posted and consumed; the
            # cursor names the last file listed, so consuming this page does not move it.
            upcoming = fetch_page.submit(run.tenant, fetched.next_cursor, run.page_size)
        yield Page(fetched, cursor=fetched.next_cursor, counters={"deferred_to_next_poll": len(fetched.deferred)})
        if fetched.next_cursor is None:
            return


def to_rows(run: Run, page: Page) -> Batch:
    """A page's files as ledger rows, with their bills mapped; in a backfill, a file holding a
    document dated outside the window is left in SPS unread."""
    mapping = run.resources.mapping
    batch = Batch(rows=[])
    for f in page.items.files:
        rows, bills = ([refused_row(f)], {}) if f.refused else unwrap(f.path, f.content, mapping)
        if run.backfill and not all(in_window(r, run.since, run.until) for r in rows):
            continue
        batch.rows += rows
        batch.payloads.update(bills)
        batch.settle.append(f.path)
    return batch


def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    """Bills a dead run may have created, looked up in Intacct by vendor and bill number."""
    refs = {c.id: ref for c in stale if c.target_ref and (ref := parse_bill_ref(c.target_ref))}
    found = find_bills(run.resources.intacct(), list(set(refs.values())))
    return [Outcome(c.id, POSTED, target_id=found[refs[c.id]]) if refs.get(c.id) in found
            else Outcome(c.id, RECEIVED, error_class="recovered", error="intent without outcome; not found in Intacct")
            for c in stale]


PIPELINE = Pipeline(name=INTEGRATION, read=read, to_rows=to_rows, post=post_bills, find=find, settle=consume_files)
