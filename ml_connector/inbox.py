"""The one inbox for webhook deliveries, shared by QuickBooks Online and Adobe Commerce.

The webhook service (webhooks/) is the front door: it verifies a delivery, :func:`store`\\ s it
and answers. The consuming integration's tasks (tasks/) :meth:`Inbox.take` the stored
deliveries for a run, act on what they name, and :meth:`Inbox.finish` them; a delivery that
failed :meth:`Inbox.release`\\ s what it holds, and a run that died holding some has them taken
back by the next :meth:`Inbox.take`. :meth:`Inbox.emit` sends the Prefect event that starts the
consuming deployment (its trigger in prefect.yaml).

A delivery is a ledger document of the inbox's own ledger integration (``box``): doc type =
what it is about, natural key = its idempotency key (the event id the sender repeats when it
redelivers), so a redelivery is a duplicate and each consumer acts on a delivery once. Status
``received`` = waiting, ``posting`` = taken by a run, ``posted`` = finished. A delivery only
names what to read: reading it twice is harmless, losing it is not, so nothing here deletes.

Both packages import this module; it imports neither: ``tasks/`` never imports ``webhooks/``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from .ledger.schema import POSTED, POSTING, RECEIVED
from .ledger.store import Claimed, Incoming, Ledger, Outcome
from .settings import intent_lease_seconds

log = logging.getLogger("ml_connector.inbox")

QBO_EVENT = "ml-connector.qbo.notification"
ADOBE_EVENT = "ml-connector.adobe.notification"
ALL = "all"  # the Adobe event's ``ml-connector.integration`` label when it is for every deployment listening
TAKE_LIMIT = 5000  # deliveries one run takes at most; the rest wait for the next run
RECOVERED = "recovered"  # the error class of a delivery given back to received


@dataclass(frozen=True)
class Stored:
    """What :func:`store` did: the new deliveries' ledger ids by consumer, and the duplicates."""

    new_ids: dict[str, list[int]]
    duplicates: int

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.new_ids.values())


@dataclass(frozen=True)
class Inbox:
    """One consuming integration's deliveries: where they are stored and which event starts
    the deployment that takes them."""

    consumer: str  # the integration acting on the deliveries
    box: str  # the ledger integration holding them
    event: str  # the Prefect event its deployment's trigger expects
    labels: tuple[tuple[str, str], ...] = ()  # the event's resource labels that select this consumer

    def take(self, ledger: Ledger, run_id: str, ids: Sequence[int] | None = None, *,
             finished_runs: Iterable[str] = (), lease: timedelta | None = None,
             limit: int = TAKE_LIMIT) -> list[Claimed]:
        """Claim deliveries for ``run_id``: exactly ``ids`` (a delivery handed to one task; those
        another run took already are not returned), or every waiting one.

        Before taking every waiting one, claims another run left unfinished go back: at once when
        that run is over (``finished_runs``: it crashed or failed between taking and finishing),
        otherwise once older than ``lease`` (default ``intent_lease_seconds()``)."""
        if ids is not None:
            return ledger.claim(self.box, list(ids), run_id)
        lease = lease if lease is not None else timedelta(seconds=intent_lease_seconds())
        stale = ledger.stale_intents(self.box, run_ids=list(finished_runs), older_than=lease, claimer=run_id)
        if stale:
            self._give_back(ledger, [c.id for c in stale], run_id)
        return ledger.claim(self.box, ledger.pending_ids(self.box, limit=limit), run_id)

    def finish(self, ledger: Ledger, ids: Sequence[int], run_id: str) -> None:
        """Mark taken deliveries handled, once what they name is in the consumer's ledger."""
        if ids:
            ledger.record_outcomes(self.box, [Outcome(i, POSTED, target_id="ingested") for i in ids], run_id)

    def release(self, ledger: Ledger, ids: Sequence[int], run_id: str) -> int:
        """Give back (to received) those of ``ids`` that the failed run ``run_id`` still holds, so
        the run its fallback event starts takes them at once, whether or not Prefect has marked the
        failed run over yet. Returns how many. A ledger that cannot be reached leaves them to the
        lease of :meth:`take`."""
        try:
            held = [d.id for d in ledger.documents(self.box, ids=list(ids))
                    if d.status == POSTING and d.flow_run_id == run_id]
            self._give_back(ledger, held, run_id)
            return len(held)
        except Exception as exc:
            log.warning("could not release the deliveries of %s: %s", self.box, one_line(exc))
            return 0

    def unfinished(self, ledger: Ledger, ids: Sequence[int]) -> list[int]:
        """Those of ``ids`` not finished yet (waiting, or taken by a run still at work)."""
        return [d.id for d in ledger.documents(self.box, ids=list(ids)) if d.status != POSTED]

    def emit(self, tenant: str, labels: Mapping[str, str] | None = None) -> None:
        """Tell Prefect that ``tenant`` has deliveries for this consumer (``labels``: what they
        are about); the consumer's deployment trigger starts its run."""
        emit(tenant, self.event, {**(labels or {}), **dict(self.labels)})

    def _give_back(self, ledger: Ledger, ids: list[int], run_id: str) -> None:
        if ids:
            ledger.record_outcomes(self.box, [Outcome(i, RECEIVED, error_class=RECOVERED) for i in ids], run_id)


def store(ledger: Ledger, inboxes: Iterable[Inbox], rows: Sequence[Incoming]) -> Stored:
    """Store a delivery's rows once per idempotency key (the natural key) in each consumer's
    inbox: a redelivery counts as duplicates and is not stored again."""
    new_ids: dict[str, list[int]] = {}
    duplicates = 0
    for inbox in inboxes:
        result = ledger.ingest(inbox.box, list(rows), "webhook")
        if result.new_ids:
            new_ids[inbox.consumer] = list(result.new_ids)
        duplicates += result.duplicates
    return Stored(new_ids, duplicates)


def emit(tenant: str, event: str, labels: Mapping[str, str] | None = None) -> None:
    """Emit ``event`` for ``tenant`` with ``labels`` (``ml-connector.<label>`` on its resource).
    Queued to Prefect's events worker, so the caller (a webhook answer) does not wait; without a
    Prefect API only a warning: the scheduled run picks the change up, late, never lost."""
    from prefect.events import emit_event

    resource = {"prefect.resource.id": f"ml-connector.tenant.{tenant}", "ml-connector.tenant": tenant,
                **{f"ml-connector.{k}": v for k, v in (labels or {}).items()}}
    try:
        emit_event(event=event, resource=resource)
    except Exception as exc:
        log.warning("could not signal %s for %s (%s); the scheduled run will pick the change up",
                    event, tenant, one_line(exc))


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


# QBO notifications have one consumer, ``qbo-sps``; its ledger integration keeps its own name.
QBO = Inbox(consumer="qbo-sps", box="qbo-webhook", event=QBO_EVENT)


def adobe(consumer: str) -> Inbox:
    """The inbox of an integration consuming Adobe Commerce notifications: each keeps its own
    copy, so each acts on a delivery once; its event is labelled with its name."""
    return Inbox(consumer=consumer, box=f"{consumer}:webhook", event=ADOBE_EVENT,
                 labels=(("integration", consumer),))


def emit_adobe_all(tenant: str, kind: str) -> None:
    """The Adobe event for every deployment listening (the trigger dispatch): one event, not one
    per consumer."""
    emit(tenant, ADOBE_EVENT, {"entity-kind": kind, "integration": ALL})
