"""One run of one integration for one tenant, the same for every integration.

1. A retried run first sends back to received what its earlier attempt left failed (the UI's
   Retry is the replay).
2. Intents a dead run left are settled through the pipeline's ``find`` (engine/recovery.py);
   then the pipeline's ``before`` steps run, and the documents its webhook inbox names are
   recorded and posted (engine/inbox.py).
3. The source is read page by page from the stored cursor; each page is recorded in the ledger,
   posted, settled at the source, and only then is the cursor stored (engine/pages.py).
4. What is still received (earlier failures, replays, waiting documents) is posted (a
   pipeline's own drain may add figures to the report).
5. Follow-up steps run (acknowledgements, master data, write-backs); a follow-up kept in a
   ledger integration of its own runs as a step of this run through :func:`run_step`.
6. The run ends Failed when it left documents failed or quarantined, with its report on the
   flow run (tasks/run_state.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from prefect.states import State

from ..tasks.ops import finished_runs
from ..tasks.run_state import finish_run, replay_earlier_attempts
from .context import Run, current_run_id
from .dry_run import dry_run as tally_dry_run
from .inbox import read_inbox
from .pages import drain, read_pages
from .pipeline import Pipeline
from .recovery import recover_intents
from .task_args import as_is


def run(pipeline: Pipeline, tenant: str, *, since: date | datetime | None = None, until: date | datetime | None = None,
        dry_run: bool = False, page_size: int = 500, poll: bool = True) -> State | dict:
    """Run ``pipeline`` for ``tenant`` (a backfill when ``since``/``until`` is given); return the
    state the flow returns, or the dry run's tally.

    ``poll`` False leaves the source's listing to the next polling run: a run a webhook trigger
    starts for what the pipeline's inbox names (recovery, the inbox and the drain still run; a
    backfill reads its window all the same)."""
    this = Run(tenant, pipeline.name, current_run_id(), since=since, until=until, page_size=page_size)
    if dry_run:
        return tally_dry_run(pipeline, this)
    retried = replay_earlier_attempts(tenant, pipeline.name, this.run_id)
    recovered = recover_intents(as_is(pipeline), as_is(this), finished_runs(tenant, pipeline.name, this.run_id))
    figures = dict(recovered)
    for step in pipeline.before:
        figures.update(step(this))
    if pipeline.inbox is not None:
        figures.update(read_inbox(pipeline, this))
    if poll or this.backfill:
        figures.update(read_pages(pipeline, this))
    figures.update(drain(pipeline, this) or {})
    for step in pipeline.followups:
        figures.update(step(this))
    if pipeline.report is not None:
        figures.update(pipeline.report(this))
    return finish_run(tenant, pipeline.name, this.run_id, extra={**figures, "retried": retried})


def run_step(pipeline: Pipeline, parent: Run) -> dict[str, int]:
    """Run ``pipeline`` as a step of ``parent``'s run: a follow-up kept in a ledger integration
    of its own (write-backs to the source) under the same tenant and run id. The intents its
    dead runs left are settled through its ``find``, its pages recorded and posted, its received
    documents drained; no replay of earlier attempts and no report of its own (``parent``'s run
    ends the flow run). Returns its figures: the recovery's, its pages' counters, its drain's
    and its posting counts summed, for the caller to name in its report."""
    step = Run(parent.tenant, pipeline.name, parent.run_id, page_size=parent.page_size)
    holders = finished_runs(parent.tenant, pipeline.name, parent.run_id)
    figures: Counter[str] = Counter(recover_intents(as_is(pipeline), as_is(step), holders))
    figures.update(read_pages(pipeline, step))
    figures.update(drain(pipeline, step) or {})
    for posted in step.posted:
        figures.update(posted)
    return dict(figures)
