"""A dry run: read and map as a real run would, write nothing anywhere, say what would happen."""

from __future__ import annotations

from collections import Counter
from itertools import islice

from prefect import get_run_logger

from ..ledger.schema import RECEIVED, SKIPPED
from .context import MAX_PAGES, Run
from .pipeline import Pipeline

WOULD = {RECEIVED: "would_post", SKIPPED: "would_skip"}


def dry_run(pipeline: Pipeline, run: Run) -> dict[str, int]:
    """Tally what the source holds after the stored cursor (or in the window) by what a run
    would do with it. Tallied by document key, so what a restarted listing reads twice counts
    once; the ledger is only read (for the cursor), and nothing is consumed at the source."""
    cursor = None if run.backfill else run.ledger.get_cursor(pipeline.name, pipeline.cursor_name)
    seen: dict[tuple[str, str, str], str] = {}
    for page in islice(pipeline.read(run, cursor), MAX_PAGES):
        for row in pipeline.to_rows(run, page).rows:
            seen[(row.doc_type, row.partner, row.natural_key)] = WOULD.get(row.status, "would_quarantine")
    tally = {"read": len(seen), "would_post": 0, "would_skip": 0, "would_quarantine": 0}
    tally.update(Counter(seen.values()))
    get_run_logger().info("dry run of %s for %s: %s", pipeline.name, run.tenant, tally)
    return tally
