"""QuickBooks Online master data: trading partners' vendors and item cross-references, both ways.

There is no listing to page through: the sync reads every QBO vendor and item (active or not)
at once, plans against the tenant mapping file and the links recorded earlier
(mappings/qbo_master.py holds the rules), and carries the plan out (tasks/qbo_master.py): it is
the pipeline's follow-up step. A link or create whose answer a dead run lost goes back to
received (the next create carries the same requestid, which QBO replays, and a name clash is
adopted), and the sync posts it with the rest of its plan: it alone knows what each row must
become, so the engine's default drain is left out.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..engine import Batch, Page, Pipeline, Run
from ..ledger.schema import RECEIVED
from ..ledger.store import Claimed, Outcome
from ..tasks.qbo_master import MASTER, post_links, sync_master_data


def read(run: Run, cursor: str | None) -> Iterator[Page]:
    return iter(())


def to_rows(run: Run, page: Page) -> Batch:
    return Batch(rows=[])


def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    return [Outcome(c.id, RECEIVED, error_class="recovered", error="intent without outcome; trying again")
            for c in stale]


def posted_by_the_sync(run: Run) -> None:
    """Received rows wait for the sync, which plans what each becomes and posts it."""


def sync(run: Run) -> dict:
    return sync_master_data(run.tenant, run.run_id)


PIPELINE = Pipeline(name=MASTER, read=read, to_rows=to_rows, post=post_links, find=find, drain=posted_by_the_sync,
                    followups=(sync,))
