"""How the webhook service hands stored notifications on: ``ML_CONNECTOR_WEBHOOK_DISPATCH``.

- ``task-worker`` (the default): hand the stored notifications' ledger ids to a background task
  with ``.delay()``: ``qbo-webhook-delivery`` (tasks/qbo_webhook.py) for QBO,
  ``adobe-webhook-delivery`` (tasks/adobe_webhook.py) for each consumer of an Adobe Commerce
  notification. The warm delivery worker (webhooks/worker.py: the child process ``ml-connector
  webhooks serve`` starts and supervises, or ``ml-connector webhooks worker`` run elsewhere with
  ``serve --no-worker``) is told over its websocket at once and runs it: 0.3 s from the POST to
  the invoice in SPS on the sandbox (README, Performance). Each tenant's deliveries carry a task
  key of their own (:func:`tenant_task`): only a worker serving that tenant runs them. The service and the worker must share
  Prefect's API and result storage (the task's parameters travel through it: the same
  ``PREFECT_HOME`` on one host, ``PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK`` across hosts).
- ``trigger``: emit the Prefect event only; the deployment's trigger (prefect.yaml) creates a
  flow run, which a worker picks up at its next poll and runs in a new process (4.5 s or more).

The task-worker path keeps the trigger as its safety net: if ``.delay()`` fails, or the
notifications are still not finished ``ML_CONNECTOR_WEBHOOK_FALLBACK_SECONDS`` (default 60)
after the hand-over (no worker, a worker on other code, a crash), the hand-over's fallback (the
trigger event) is emitted and the deployment's run processes whatever is left. The scheduled
runs (hourly CDC, the Commerce poll) cover the rest.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import logging
import os
import re
import threading
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .. import settings
from ..inbox import Inbox
from ..ledger.store import Ledger

log = logging.getLogger("ml_connector.webhooks")

TRIGGER, TASK_WORKER = "trigger", "task-worker"
MODES = (TRIGGER, TASK_WORKER)
DEFAULT_MODE = TASK_WORKER


def dispatch_mode() -> str:
    """``ML_CONNECTOR_WEBHOOK_DISPATCH``: ``task-worker`` (default) or ``trigger``."""
    mode = os.environ.get("ML_CONNECTOR_WEBHOOK_DISPATCH", DEFAULT_MODE).strip().lower() or DEFAULT_MODE
    if mode not in MODES:
        raise ValueError(f"ML_CONNECTOR_WEBHOOK_DISPATCH must be one of {', '.join(MODES)}, not {mode[:40]!r}")
    return mode


def fallback_seconds() -> float:
    """``ML_CONNECTOR_WEBHOOK_FALLBACK_SECONDS``: how long after a hand-over unfinished
    notifications wait before the trigger event is emitted for them (default 60)."""
    return settings.webhook_fallback_seconds()


_TENANT_TASKS: dict[tuple[str, str], object] = {}
_TENANT_TASKS_LOCK = threading.Lock()


def tenant_task(delivery, tenant: str):
    """The delivery task ``delivery`` as tenant ``tenant``'s own: the same code, name and options
    under a task key of its own. A Prefect task worker runs only the task runs whose key it
    serves, so the hand-over ``.delay()``s through this and the delivery worker serves its
    tenants' keys: a worker never runs another tenant's delivery (whose credentials, mapping and
    warm clients are not its to hold), and a tenant whose worker is down waits for its own
    fallback instead of another tenant's worker.

    Prefect derives the key from the function's name and code, and a task worker rebuilds the
    tasks it serves from their function, so the key comes from a copy of the function named
    for the tenant (setting ``task_key`` alone would not survive the rebuild)."""
    key = (delivery.task_key, tenant)
    with _TENANT_TASKS_LOCK:
        if key not in _TENANT_TASKS:
            safe = re.sub(r"[^A-Za-z0-9_-]", "_", tenant)
            if safe != tenant:  # two names made alike must still get two keys
                safe += "-" + hashlib.sha256(tenant.encode()).hexdigest()[:8]
            own = delivery.with_options()
            own.fn = _renamed(delivery.fn, f"{delivery.fn.__name__}-{safe}")
            _TENANT_TASKS[key] = own.with_options()  # built from the renamed copy: its key follows it
        return _TENANT_TASKS[key]


def _renamed(fn, name: str):
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    functools.update_wrapper(copy, fn)
    copy.__kwdefaults__ = fn.__kwdefaults__
    del copy.__wrapped__  # a copy, not a wrapper: nothing is to look through it to the original
    copy.__qualname__ = name
    return copy


def check_ledger_tenant(tenant: str, ledger: Ledger | None) -> None:
    """Refuse a ledger opened for another tenant: this tenant's notifications would be stored,
    watched and handed on as that tenant's."""
    if ledger is not None and ledger.tenant != tenant:
        raise ValueError(f"webhooks of tenant {tenant!r} given the ledger of tenant {ledger.tenant!r}")


@dataclass(frozen=True)
class Handover:
    """One hand-over: stored notifications (``note_ids`` of ``inbox``), the ``.delay()`` that
    gives them to their delivery task, and the ``fallback`` that emits the trigger event the
    deployment of the same work listens for."""

    tenant: str
    inbox: Inbox
    note_ids: tuple[int, ...]
    ledger: Ledger
    submit: Callable[[], object]
    fallback: Callable[[], object]
    what: str = "notification(s)"

    def __post_init__(self) -> None:
        check_ledger_tenant(self.tenant, self.ledger)


class TaskWorkerDispatch:
    """Makes hand-overs off the request (``.delay()`` is an API call), one at a time in arrival
    order, and watches that their notifications get finished. One per webhook service, shared
    by its routes (QBO and Adobe)."""

    def __init__(self, grace_seconds: float | None = None) -> None:
        self.grace = fallback_seconds() if grace_seconds is None else grace_seconds
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-dispatch")
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def __call__(self, handover: Handover) -> None:
        # in a copy of the caller's context: Prefect's settings (its API URL) live in contextvars
        self._pool.submit(contextvars.copy_context().run, self.hand_over, handover)

    def hand_over(self, handover: Handover) -> bool:
        """``.delay()`` the delivery, then arm the watchdog; on failure, the trigger at once."""
        try:
            handover.submit()
        except Exception as exc:
            log.warning("could not hand %d %s of %s to the task worker (%s); using the trigger",
                        len(handover.note_ids), handover.what, handover.tenant, " ".join(str(exc).split())[:200])
            _safely(handover.fallback)
            return False
        timer = threading.Timer(self.grace, self._watch, (handover,))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()
        return True

    def _watch(self, handover: Handover) -> None:
        with self._lock:
            self._timers.discard(threading.current_thread())  # type: ignore[arg-type]
        try:
            self.check(handover)
        except Exception as exc:  # the watchdog must never take the service down
            log.warning("webhook watchdog for %s failed: %s", handover.tenant, " ".join(str(exc).split())[:200])

    def check(self, handover: Handover) -> bool:
        """If any of the notifications is not finished yet, emit the trigger; True if it did."""
        left = handover.inbox.unfinished(handover.ledger, handover.note_ids)
        if not left:
            return False
        log.warning("%d %s of %s not handled by the task worker within %g s; using the trigger",
                    len(left), handover.what, handover.tenant, self.grace)
        handover.fallback()
        return True

    def close(self) -> None:
        """Stop the watchdogs and wait for hand-overs in progress."""
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        self._pool.shutdown(wait=True)


def _safely(fallback: Callable[[], object]) -> None:
    try:
        fallback()
    except Exception as exc:  # the emitters log and swallow already; this is the last guard
        log.warning("webhook fallback failed: %s", " ".join(str(exc).split())[:200])
