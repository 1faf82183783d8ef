"""The write path every integration shares: claim, build, write in batches, record outcomes.

Intent and outcome are two ledger writes around the target write. A crash between them leaves
the document in ``posting``; recovery (engine/recovery.py) looks it up in the target before
anything posts it again. A transient failure of a whole batch puts its documents back to
``received`` with the reason, records that durably, and only then re-raises, so a Prefect
retry (or the next run) picks them up with the same idempotency keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..connectors.errors import BadDocument, IntegrationError, TransientError, classify, one_line
from ..ledger.revisions import NEEDS_PERSON
from ..ledger.schema import FAILED, POSTED, QUARANTINED, RECEIVED
from ..ledger.store import Claimed, Ledger, Outcome

log = logging.getLogger("ml_connector.posting")

P = TypeVar("P")


@dataclass(frozen=True)
class WriteResult:
    """What the target said about one document's write."""

    ok: bool
    target_id: str | None = None
    error: IntegrationError | None = None


@dataclass(frozen=True)
class Prepared(Generic[P]):
    claimed: Claimed
    payload: P


def post_documents(
    ledger: Ledger,
    integration: str,
    ids: Sequence[int],
    run_id: str,
    *,
    build: Callable[[Claimed], P],
    write: Callable[[list[Prepared[P]]], list[WriteResult]],
    batch_size: int,
) -> dict[str, int]:
    """Post the documents ``ids`` (those still received) and return counts by outcome."""
    counts = {POSTED: 0, FAILED: 0, QUARANTINED: 0, RECEIVED: 0}
    claimed = ledger.claim(integration, list(ids), run_id)
    for start in range(0, len(claimed), batch_size):
        batch = claimed[start : start + batch_size]
        prepared, outcomes = _prepare(batch, build)
        try:
            results = write(prepared) if prepared else []
        except IntegrationError as exc:
            # Nothing is known about this batch (transient) or a person must act (auth): the
            # documents go back to received with the reason, durably, before the retry
            # machinery or the operator sees the error. Same idempotency keys next time.
            outcomes += [Outcome(p.claimed.id, RECEIVED, error_class=classify(exc), error=one_line(exc)) for p in prepared]
            outcomes += [Outcome(c.id, RECEIVED, error_class="not_attempted") for c in claimed[start + batch_size :]]
            ledger.record_outcomes(integration, outcomes, run_id)
            raise
        outcomes += [_outcome(p, r) for p, r in zip(prepared, results, strict=True)]
        ledger.record_outcomes(integration, outcomes, run_id)
        for o in outcomes:
            counts[o.status] += 1
    return counts


def _prepare(batch: list[Claimed], build) -> tuple[list[Prepared], list[Outcome]]:
    prepared, outcomes = [], []
    for c in batch:
        try:
            prepared.append(Prepared(c, build(c)))
        except BadDocument as exc:
            outcomes.append(Outcome(c.id, QUARANTINED, error_class=classify(exc), error=one_line(exc)))
    return prepared, outcomes


def _outcome(p: Prepared, r: WriteResult) -> Outcome:
    if r.ok:
        return Outcome(p.claimed.id, POSTED, target_id=r.target_id)
    exc = r.error
    if exc is not None and exc.classification == NEEDS_PERSON:
        # the target holds the document in a state only a person can resolve (a paid bill):
        # quarantined with the reason, released by replay once acted on
        return Outcome(p.claimed.id, QUARANTINED, error_class=NEEDS_PERSON, error=one_line(exc))
    if isinstance(exc, TransientError):
        return Outcome(p.claimed.id, RECEIVED, error_class=classify(exc), error=one_line(exc))
    return Outcome(p.claimed.id, FAILED, error_class=classify(exc) if exc else "unknown",
                   error=one_line(exc) if exc else "no reason given")
