"""A webhook inbox as a pipeline's second source: the deliveries name source documents, which are
recorded and posted the way a page of the listing is.

A delivery only names what to read, so it is finished once what it names is durable in the
ledger (recorded: posting is the pipeline's own business from there, as for any page). A run
that fails before that gives back what it took; a run that dies holding deliveries has them
taken back by the next run at once when it is over, or after the lease (ml_connector/inbox.py).
The listing (the page loop) stays the safety net: a delivery that never came is late, never lost.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..ledger.store import Claimed
from ..tasks.ops import finished_runs
from ..tasks.retry import retry_options
from .context import Run
from .pages import Recorded, record_page
from .pipeline import Pipeline
from .task_args import as_is


def record_deliveries(pipeline: Pipeline, run: Run, claimed: list[Claimed]) -> list[Recorded]:
    """Record what the deliveries ``claimed`` name (the pages of ``pipeline.inbox.read``, through
    the page loop's own record step) and finish the deliveries once that is durable.

    Runs inside a task: :func:`record_inbox` in a flow run, the webhook fast path's own task
    outside one (tasks/qbo_webhook.py), so it calls the record step's code without a task run."""
    source = pipeline.inbox
    assert source is not None, f"{pipeline.name} has no inbox"
    recorded = [record_page.fn(pipeline, run, page) for page in source.read(run, claimed)]
    source.inbox.finish(run.ledger, [c.id for c in claimed], run.run_id)
    return recorded


# Never cached: it writes the ledger.
@task(name="record_inbox", cache_policy=NO_CACHE, **retry_options())
def record_inbox(pipeline: Pipeline, run: Run, holders: list[str]) -> tuple[int, list[Recorded]]:
    """Take the waiting deliveries (and those the runs ``holders``, which are over, left taken),
    record what they name and finish them; returns how many were taken and what was recorded.
    A failure gives the deliveries back before it is raised, so the retry takes them again."""
    inbox = pipeline.inbox.inbox  # type: ignore[union-attr]
    claimed = inbox.take(run.ledger, run.run_id, finished_runs=holders)
    try:
        return len(claimed), record_deliveries(pipeline, run, claimed)
    except Exception:
        inbox.release(run.ledger, [c.id for c in claimed], run.run_id)
        raise


def read_inbox(pipeline: Pipeline, run: Run) -> dict[str, int]:
    """The inbox step of a run: record what the waiting deliveries name, then post the new
    documents with the pipeline's post task, as the page loop posts a page."""
    holders = finished_runs(run.tenant, pipeline.inbox.inbox.box, run.run_id)  # type: ignore[union-attr]
    taken, recorded = record_inbox(as_is(pipeline), as_is(run), holders)
    for page in recorded:
        if page.new_ids and pipeline.post_per_page:
            run.posted.append(pipeline.post(run.tenant, as_is(page.new_ids), run.run_id, as_is(page.payloads)))
    return {"webhook_notifications": taken}
