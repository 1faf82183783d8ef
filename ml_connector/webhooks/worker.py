"""The delivery worker: a Prefect task worker serving the webhook fast path's background tasks
(``qbo-webhook-delivery``, tasks/qbo_webhook.py; ``adobe-webhook-delivery``,
tasks/adobe_webhook.py), warm, one delivery at a time.

``ml-connector webhooks serve`` runs it as its own child process (:class:`WorkerSupervisor`):
the same command as ``ml-connector webhooks worker``, the same environment (so the same Prefect
API and ``PREFECT_HOME``, whose result storage carries the tasks' parameters), restarted with
backoff if it dies, stopped with the service. ``serve --no-worker`` leaves it to a
``webhooks worker`` run elsewhere (several service hosts sharing one worker pool and a result
storage block).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

log = logging.getLogger("ml_connector.webhooks.worker")

BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # between restarts of a worker that keeps dying
STABLE_SECONDS = 60.0  # a worker that ran this long before it died starts the backoff afresh


def serve_worker(tenants: list[str], limit: int = 1) -> None:
    """Serve both delivery tasks of each of ``tenants`` as a Prefect task worker (blocks): their
    tenant's own task keys (dispatch.tenant_task), so it takes no other tenant's deliveries.
    ``limit=1``: one delivery at a time, as the deployments' ``concurrency_limit: 1``. Each
    tenant's deliveries are warmed first (a tenant without the blocks yet warms on its first
    delivery)."""
    from prefect.task_worker import serve

    from ..runtime.tenant import tenant as tenant_resources
    from ..tasks import adobe_webhook, qbo_webhook

    for name in tenants:
        try:
            mapping = tenant_resources(name).mapping
            if getattr(mapping, "qbo", None) is not None:
                qbo_webhook.warm(name)
            adobe_webhook.warm(name)
        except Exception as exc:
            log.warning("could not warm tenant %s (%s); its first delivery will", name, " ".join(str(exc).split())[:200])
    serve(*served_tasks(tenants), limit=limit)


def served_tasks(tenants: list[str]) -> list:
    """The delivery tasks a worker for ``tenants`` serves: each tenant's own QBO and Adobe ones."""
    from ..tasks import adobe_webhook, qbo_webhook
    from .dispatch import tenant_task

    return [tenant_task(delivery, name) for name in dict.fromkeys(tenants)
            for delivery in (qbo_webhook.qbo_webhook_delivery, adobe_webhook.adobe_webhook_delivery)]


def worker_argv(tenant: str) -> list[str]:
    """The ``ml-connector webhooks worker`` command for the service's tenant, in this interpreter."""
    return [sys.executable, "-m", "ml_connector.cli", "webhooks", "worker", "--tenant", tenant]


def worker_env() -> dict[str, str]:
    """The service's environment, with the Prefect API it resolved (from a profile, say) made
    explicit: the worker must listen where the service's ``.delay()`` goes."""
    env = dict(os.environ)
    try:
        from prefect.settings import get_current_settings

        url = get_current_settings().api.url
    except Exception:  # no Prefect settings: the child resolves them as the service did
        url = None
    if url:
        env.setdefault("PREFECT_API_URL", str(url))
    return env


def _death_signal():
    """Linux: a function making the child get SIGTERM when the service dies without stopping it
    (SIGKILL, OOM), resolved here in the parent so the child only calls it between fork and exec."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def die_with_parent() -> None:  # pragma: no cover - runs in the child
        prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG

    return die_with_parent


class WorkerSupervisor:
    """Runs ``argv`` as a child process and keeps it running until :meth:`stop`: a child that
    exits is logged and started again after a backoff (``backoff`` seconds, one step further
    each time it dies within ``stable_seconds`` of starting, back to the first step otherwise)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, *,
                 backoff: tuple[float, ...] = BACKOFF_SECONDS, stable_seconds: float = STABLE_SECONDS,
                 stop_timeout: float = 20.0) -> None:
        self.argv, self.env = list(argv), env
        self.backoff, self.stable, self.stop_timeout = backoff, stable_seconds, stop_timeout
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self._preexec = _death_signal()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        proc = self.proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> None:
        """Start the child and the thread watching it; returns at once."""
        self._spawn()
        self._thread = threading.Thread(target=self._watch, name="webhook-worker-supervisor", daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self.proc = subprocess.Popen(self.argv, env=self.env if self.env is not None else worker_env(),
                                         preexec_fn=self._preexec)
            self.starts += 1
        log.info("delivery worker started (pid %d)", self.proc.pid)

    def _watch(self) -> None:
        step = 0
        while not self._stopping.is_set():
            proc, started = self.proc, time.monotonic()
            code = proc.wait() if proc is not None else None
            if self._stopping.is_set():
                return
            step = 0 if time.monotonic() - started >= self.stable else min(step + 1, len(self.backoff))
            delay = self.backoff[max(step - 1, 0)] if self.backoff else 0.0
            log.warning("delivery worker (pid %s) exited with code %s; restarting it in %g s",
                        proc.pid if proc else "?", code, delay)
            if self._stopping.wait(delay):
                return
            try:
                self._spawn()
            except OSError as exc:  # cannot start at all: keep trying, at the slowest pace
                log.error("could not start the delivery worker: %s", exc)
                step = len(self.backoff)
                if self._stopping.wait(self.backoff[-1] if self.backoff else 1.0):
                    return

    def stop(self) -> None:
        """Stop watching, then SIGTERM the child (SIGKILL after ``stop_timeout``) and reap it."""
        with self._lock:
            self._stopping.set()
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(timeout=5)
        log.info("delivery worker stopped")
