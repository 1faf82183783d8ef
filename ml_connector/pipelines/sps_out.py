"""SPS Commerce's ``out/`` folder as a pipeline source, shared by the pipelines that read it
(SPS -> Intacct, SPS -> QBO).

The reader pages through ``out/`` by file name, downloading the next page while the engine
records and posts this one; files are consumed (deleted, the pipeline's ``settle``) once their
documents are durable in the ledger. The cursor names the last file listed and is stored page
by page; at the end of the listing it resets, because consumed files are gone and a name-ordered
cursor would otherwise skip new files that sort before it. A backfill window leaves files dated
outside it untouched in SPS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..connectors.sps.client import follow
from ..engine import Batch, Page, Run
from ..ledger.store import Incoming
from ..mappings.sps_rows import in_window, refused_row
from ..tasks.sps import FetchedPage, fetch_page


def read(run: Run, cursor: str | None) -> Iterator[Page]:
    upcoming = fetch_page.submit(run.tenant, cursor, run.page_size)
    seen: set[str] = set()
    while True:
        fetched: FetchedPage = upcoming.result()
        if follow(seen, fetched.next_cursor) is not None:
            # The next page downloads while this one is recorded, posted and consumed; the
            # cursor names the last file listed, so consuming this page does not move it.
            upcoming = fetch_page.submit(run.tenant, fetched.next_cursor, run.page_size)
        yield Page(fetched, cursor=fetched.next_cursor, counters={"deferred_to_next_poll": len(fetched.deferred)})
        if fetched.next_cursor is None:
            return


def file_batch(run: Run, page: Page, unwrap: Callable[[str, bytes], tuple[list[Incoming], dict]]) -> Batch:
    """A page's files as ledger rows with their payloads (``unwrap``: one file's rows and
    payloads), each file settled once its rows are durable; in a backfill, a file holding a
    document dated outside the window is left in SPS unread."""
    batch = Batch(rows=[])
    for f in page.items.files:
        rows, payloads = ([refused_row(f)], {}) if f.refused else unwrap(f.path, f.content)
        if run.backfill and not all(in_window(r, run.since, run.until) for r in rows):
            continue
        batch.rows += rows
        batch.payloads.update(payloads)
        batch.settle.append(f.path)
    return batch
