"""How the webhook service hands stored QBO notifications on: ``ML_CONNECTOR_WEBHOOK_DISPATCH``.

- ``trigger`` (the default): emit the Prefect event ``ml-connector.qbo.notification``; the
  ``qbo-to-sps`` deployment's trigger (prefect.yaml) creates a flow run, which a worker picks
  up at its next poll and runs in a new process. About 4.5 s from the POST to the invoice in
  SPS on the sandbox (README, Performance).
- ``task-worker``: hand the stored notifications' ledger ids to the ``qbo-webhook-delivery``
  background task (tasks/qbo_webhook.py) with ``.delay()``; the warm ``ml-connector webhooks
  worker`` process is told over its websocket at once and runs it. It needs that worker
  running, and the webhook service and the worker sharing Prefect's result storage (the task's
  parameters travel through it: the same ``PREFECT_HOME`` on one host, or
  ``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK`` across hosts).

The task-worker path keeps the trigger as its safety net: if ``.delay()`` fails, or the
notifications are still not finished ``ML_CONNECTOR_WEBHOOK_FALLBACK_SECONDS`` (default 60)
after the hand-over (no worker, a worker on other code, a crash), the trigger event is emitted
and the deployment's run processes whatever is left. The hourly CDC run covers the rest.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from ..ledger.schema import POSTED
from ..ledger.store import Ledger

log = logging.getLogger("ml_connector.webhooks")

TRIGGER, TASK_WORKER = "trigger", "task-worker"
MODES = (TRIGGER, TASK_WORKER)


def dispatch_mode() -> str:
    """``ML_CONNECTOR_WEBHOOK_DISPATCH``: ``trigger`` (default) or ``task-worker``."""
    mode = os.environ.get("ML_CONNECTOR_WEBHOOK_DISPATCH", TRIGGER).strip().lower() or TRIGGER
    if mode not in MODES:
        raise ValueError(f"ML_CONNECTOR_WEBHOOK_DISPATCH must be one of {', '.join(MODES)}, not {mode[:40]!r}")
    return mode


def fallback_seconds() -> float:
    """``ML_CONNECTOR_WEBHOOK_FALLBACK_SECONDS``: how long after a hand-over unfinished
    notifications wait before the trigger event is emitted for them (default 60)."""
    return float(os.environ.get("ML_CONNECTOR_WEBHOOK_FALLBACK_SECONDS", "60"))


def _delay(tenant: str, note_ids: list[int]) -> None:
    from ..tasks.qbo_webhook import qbo_webhook_delivery

    qbo_webhook_delivery.delay(tenant, note_ids)


class TaskWorkerDispatch:
    """Hands stored notifications to the task worker, off the request (``.delay()`` is an API
    call), one hand-over at a time in arrival order, and watches that they get finished.

    ``submit(tenant, note_ids)`` makes the hand-over, ``fallback(tenant)`` starts the trigger
    path; both are parameters so tests can stand in for Prefect."""

    def __init__(self, fallback: Callable[[str], None], *, submit: Callable[[str, list[int]], None] = _delay,
                 grace_seconds: float | None = None) -> None:
        self.fallback, self.submit = fallback, submit
        self.grace = fallback_seconds() if grace_seconds is None else grace_seconds
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-dispatch")
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def __call__(self, tenant: str, note_ids: list[int], ledger: Ledger) -> None:
        # in a copy of the caller's context: Prefect's settings (its API URL) live in contextvars
        self._pool.submit(contextvars.copy_context().run, self.hand_over, tenant, list(note_ids), ledger)

    def hand_over(self, tenant: str, note_ids: list[int], ledger: Ledger) -> bool:
        """``.delay()`` the delivery, then arm the watchdog; on failure, the trigger at once."""
        try:
            self.submit(tenant, note_ids)
        except Exception as exc:
            log.warning("could not hand %d notification(s) of %s to the task worker (%s); using the trigger",
                        len(note_ids), tenant, " ".join(str(exc).split())[:200])
            self.fallback(tenant)
            return False
        timer = threading.Timer(self.grace, self._watch, (tenant, note_ids, ledger))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()
        return True

    def _watch(self, tenant: str, note_ids: list[int], ledger: Ledger) -> None:
        with self._lock:
            self._timers.discard(threading.current_thread())  # type: ignore[arg-type]
        try:
            self.check(tenant, note_ids, ledger)
        except Exception as exc:  # the watchdog must never take the service down
            log.warning("webhook watchdog for %s failed: %s", tenant, " ".join(str(exc).split())[:200])

    def check(self, tenant: str, note_ids: list[int], ledger: Ledger) -> bool:
        """If any of the notifications is not finished yet, emit the trigger; True if it did."""
        from .app import WEBHOOK

        left = [d.id for d in ledger.documents(WEBHOOK, ids=note_ids) if d.status != POSTED]
        if not left:
            return False
        log.warning("%d notification(s) of %s not handled by the task worker within %g s; using the trigger",
                    len(left), tenant, self.grace)
        self.fallback(tenant)
        return True

    def close(self) -> None:
        """Stop the watchdogs and wait for hand-overs in progress."""
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        self._pool.shutdown(wait=True)
