"""Recovery of what a dead run left between intent and outcome, the same for every integration.

A run that died (a killed worker, a crashed process) leaves documents in ``posting``: their
write may or may not have reached the target. At the start of every run, the documents whose
run is over (or whose intent is older than the lease) are taken over and handed to the
pipeline's ``find``, which asks the target: found -> posted with what the target holds; not
found -> received again, posted with the same idempotency key (a second write is safe even if
the first one is still in flight somewhere). Nothing is ever posted again on a guess.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE

from ..ledger.schema import POSTED, POSTING
from ..settings import intent_lease_seconds
from ..tasks.retry import retry_options
from .context import Run
from .pipeline import Pipeline

log = logging.getLogger("ml_connector.engine.recovery")


@task(name="recover_intents", cache_policy=NO_CACHE, **retry_options())
def recover_intents(pipeline: Pipeline, run: Run, holders: list[str]) -> dict[str, int]:
    """Settle the intents of the runs ``holders`` (runs that are over) and of expired leases;
    return how many were found in the target and how many go back to received."""
    ledger = run.ledger
    # as the dead runs left them: stale_intents re-stamps intent_at when it takes them over,
    # and a find that reasons about when a write may have landed needs the original
    left = {row.id: row for row in ledger.documents(pipeline.name, status=POSTING)}
    stale = ledger.stale_intents(pipeline.name, run_ids=holders, claimer=run.run_id,
                                 older_than=timedelta(seconds=intent_lease_seconds()))
    if not stale:
        return {"recovered_posted": 0, "recovered_requeued": 0}
    outcomes = pipeline.find(run, stale, left)
    ledger.record_outcomes(pipeline.name, outcomes, run.run_id)
    posted = sum(1 for o in outcomes if o.status == POSTED)
    log.info("%s: settled %d unfinished intents: %d found in the target, %d to post again",
             pipeline.name, len(stale), posted, len(stale) - posted)
    return {"recovered_posted": posted, "recovered_requeued": len(stale) - posted}
