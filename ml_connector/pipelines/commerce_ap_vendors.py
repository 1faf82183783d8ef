"""Adobe Commerce <-> Sage Intacct vendor master (``commerce-ap-vendors``): the vendors the procure
integration matched or created, kept aligned with their Commerce customers both ways under the
tenant's conflict rule (mappings/commerce_ap_vendor_master.py).

Its ledger integration holds the links (doc type ``vendor``: key = the Commerce customer id,
target = the VENDORID; made by ``commerce-intacct-ap`` when a customer's first document posts,
tasks/commerce_ap_vendors.py) and the conflicts (doc type ``conflict``, recorded skipped with
the decision). A run: vendors that carry a Commerce id without a link are adopted; the linked
pairs are read as one page; each conflict is recorded, and once recorded the winners' values
are written to the losing side (the page's settle step). A vendor row a dead run left between
intent and outcome is looked up in Intacct by VENDORID (``find``, used by the procure run too);
one left received (a transient failure) is matched or created by the drain.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from ..connectors.errors import BadDocument, one_line
from ..engine import Batch, Page, Pipeline, Run
from ..ledger.schema import POSTED, RECEIVED, SKIPPED
from ..ledger.store import Claimed, Outcome
from ..mappings.commerce_ap_vendor_master import Pair, align
from ..tasks.commerce_ap_master import adopt_vendor_links, read_pairs, write_alignment
from ..tasks.commerce_ap_vendors import MASTER, post_vendors
from ..tasks.ops import attempt_started

log = logging.getLogger("ml_connector.pipelines.commerce_ap_vendors")


def adopt(run: Run) -> dict[str, int]:
    return adopt_vendor_links(run.tenant, run.run_id)


def read(run: Run, cursor: str | None) -> Iterator[Page]:
    """Every linked pair, as one page: the alignment compares whole records, so there is no
    cursor to resume from."""
    yield Page(read_pairs(run.tenant), store_cursor=False)


def to_rows(run: Run, page: Page) -> Batch:
    """The pairs' conflicts as ledger rows, and the updates to write once they are durable; a
    pair one side holds bad data for is left as it is (counted, logged)."""
    commerce = run.resources.commerce("procure")
    batch = Batch(rows=[], counters={"pairs": 0, "unreadable": 0, "customers_updated": 0, "vendors_updated": 0})
    pair: Pair
    for pair in page.items:
        batch.counters["pairs"] += 1
        try:
            aligned = align(pair, commerce)
        except BadDocument as exc:
            batch.counters["unreadable"] += 1
            log.warning("vendor %s / customer %s not aligned: %s", pair.vendor_id, pair.customer_id, one_line(exc))
            continue
        batch.rows += aligned.rows
        batch.settle += [update for update in (aligned.customer, aligned.vendor) if update is not None]
    return batch


def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
    """Vendors a dead run may have created, looked up in Intacct by VENDORID."""
    client = run.resources.intacct()
    return [Outcome(c.id, POSTED, target_id=c.target_ref) if c.target_ref and client.find_vendors("id", c.target_ref)
            else Outcome(c.id, RECEIVED, error_class="recovered", error="intent without outcome; not in Intacct")
            for c in stale]


def report(run: Run) -> dict[str, int]:
    """The conflicts this run recorded: the only rows it records as skipped."""
    return {"conflicts_recorded": run.ledger.run_counts(MASTER, run.run_id, since=attempt_started())[SKIPPED]}


PIPELINE = Pipeline(name=MASTER, read=read, to_rows=to_rows, post=post_vendors, find=find, settle=write_alignment,
                    before=(adopt,), report=report)
