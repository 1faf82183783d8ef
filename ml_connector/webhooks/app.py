"""The webhook service: one small ASGI app (Starlette) receiving QuickBooks Online notifications.

``POST /webhooks/qbo``:

1. verify ``intuit-signature`` (base64 HMAC-SHA256 of the raw body with the tenant's verifier
   token, compared in constant time); a bad or missing signature gets 401 and nothing is stored;
2. parse the legacy or CloudEvents payload and store each event in the inbox of ``qbo-sps``
   (ml_connector/inbox.py: ledger integration ``qbo-webhook``, natural key = the event id), so a
   redelivered notification is a duplicate and is processed once;
3. answer 200 at once (Intuit wants an answer within 3 s), after handing the new notifications
   on as ``ML_CONNECTOR_WEBHOOK_DISPATCH`` says (webhooks/dispatch.py): ``task-worker`` (default)
   hands their ledger ids to the warm delivery worker with ``.delay()`` (the ``qbo-webhook-delivery``
   task), the trigger staying its fallback; ``trigger`` emits the Prefect event
   ``ml-connector.qbo.notification`` for the tenant, and the trigger declared on the
   ``qbo-to-sps`` deployment in prefect.yaml starts the run that does the work. Without Prefect
   the hourly CDC run is the safety net.

``ml-connector webhooks serve --port N --tenant T`` serves it with uvicorn and, in task-worker
mode, runs the delivery worker as its supervised child process (webhooks/worker.py) unless
``--no-worker``.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..connectors.errors import BadDocument
from ..connectors.qbo.webhooks import (
    SIGNATURE_HEADER,
    parse_notification,
    verify_signature,
)
from ..inbox import QBO, store
from ..ledger.store import Incoming, Ledger
from .body import MAX_BODY, BodyTooLarge, capped_body
from .dispatch import check_ledger_tenant

if TYPE_CHECKING:
    from .dispatch import TaskWorkerDispatch

log = logging.getLogger("ml_connector.webhooks")

DEPLOYMENT = "qbo-to-sps/qbo-to-sps"


def emit_notification_event(tenant: str) -> None:
    """Tell Prefect a tenant has new notifications; the ``qbo-to-sps`` deployment's trigger
    (prefect.yaml) starts a run for that tenant."""
    QBO.emit(tenant)


class _QboReceiver:
    """Verifies, stores and triggers, for one tenant. Settings (verifier token, ledger, realm)
    come from the tenant's ``<tenant>-qbo`` block and the configured ledger on first use,
    unless given."""

    def __init__(self, tenant: str, verifier_token, ledger: Ledger | None, realm_id: str | None, trigger,
                 deliver=None) -> None:
        check_ledger_tenant(tenant, ledger)
        self.tenant, self.trigger, self.deliver = tenant, trigger, deliver
        self._token, self._ledger, self._realm = verifier_token, ledger, realm_id
        self._loaded = False

    def settings(self) -> tuple[str, Ledger, str | None]:
        if not self._loaded:
            if self._token is None:
                from ..credentials import load_credentials

                block = load_credentials(self.tenant, "qbo")
                self._token = block.verifier_token.get_secret_value() if block.verifier_token else ""
                self._realm = self._realm or block.realm_id
            if self._ledger is None:
                from ..runtime.tenant import tenant as tenant_resources

                self._ledger = tenant_resources(self.tenant).ledger
            self._loaded = True
        token = self._token() if callable(self._token) else self._token
        return token, self._ledger, self._realm

    def store(self, body: bytes) -> dict:
        """Each event of a notification becomes a ledger row keyed by its event id."""
        _, ledger, realm = self.settings()
        events = parse_notification(body)
        rows = [Incoming(doc_type="notification", partner=e.realm_id, natural_key=e.event_id,
                         source_ref=f"{e.entity}:{e.id}:{e.operation}",
                         raw_payload=json.dumps({"realm": e.realm_id, "entity": e.entity, "id": e.id,
                                                 "operation": e.operation, "event_id": e.event_id,
                                                 "last_updated": e.last_updated.isoformat() if e.last_updated else None
                                                 }).encode())
                for e in events if realm is None or e.realm_id == realm]
        stored = store(ledger, [QBO], rows)
        return {"events": len(events), "stored": stored.count, "duplicates": stored.duplicates,
                "other_realm": len(events) - len(rows), "new_ids": stored.new_ids.get(QBO.consumer, [])}

    async def handle(self, request: Request) -> JSONResponse:
        try:
            body = await capped_body(request, MAX_BODY)
        except BodyTooLarge:
            return JSONResponse({"error": "body too large"}, status_code=413)
        token = (await run_in_threadpool(self.settings))[0]
        if not verify_signature(body, request.headers.get(SIGNATURE_HEADER), token):
            log.warning("QBO webhook refused: bad or missing %s", SIGNATURE_HEADER)
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            answer = await run_in_threadpool(self.store, body)
        except BadDocument as exc:
            return JSONResponse({"error": " ".join(str(exc).split())[:200]}, status_code=400)
        new_ids = answer.pop("new_ids")
        if new_ids and self.deliver is not None:
            self.deliver(self.tenant, new_ids, self.settings()[1])
        elif new_ids and self.trigger is not None:
            self.trigger(self.tenant)
        return JSONResponse(answer)


def create_app(tenant: str, *, verifier_token: str | Callable[[], str] | None = None, ledger: Ledger | None = None,
               realm_id: str | None = None, trigger: Callable[[str], None] | None = emit_notification_event,
               adobe: dict | None = None,
               deliver: Callable[[str, list[int], Ledger], None] | None = None) -> Starlette:
    """The ASGI app for one tenant: ``POST /webhooks/qbo``, ``POST /webhooks/adobe[/{hook}]``
    (webhooks/adobe.py; ``adobe`` holds its options: verifier, consumers, trigger) and ``GET /health``.

    ``deliver(tenant, note_ids, ledger)``, when given, takes the new QBO notifications instead of
    ``trigger(tenant)`` (:func:`qbo_handover`)."""
    from .adobe import adobe_routes

    receiver = _QboReceiver(tenant, verifier_token, ledger, realm_id, trigger, deliver)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "tenant": tenant})

    return Starlette(routes=[Route("/webhooks/qbo", receiver.handle, methods=["POST"]),
                             *adobe_routes(tenant, ledger=ledger, **(adobe or {})), Route("/health", health)])


def qbo_handover(dispatch: TaskWorkerDispatch):
    """``create_app``'s ``deliver``: each batch of new QBO notifications to ``qbo-webhook-delivery``
    through ``dispatch``, the trigger event as its fallback."""
    from functools import partial

    from .dispatch import Handover

    def deliver(tenant: str, note_ids: list[int], ledger: Ledger) -> None:
        dispatch(Handover(tenant, QBO, tuple(note_ids), ledger, submit=partial(_delay_qbo, tenant, list(note_ids)),
                          fallback=partial(emit_notification_event, tenant), what="QBO notification(s)"))

    return deliver


def _delay_qbo(tenant: str, note_ids: list[int]) -> None:
    from ..tasks.qbo_webhook import qbo_webhook_delivery
    from .dispatch import tenant_task

    tenant_task(qbo_webhook_delivery, tenant).delay(tenant, note_ids)


def dispatch_options(mode: str | None = None, dispatch: TaskWorkerDispatch | None = None) -> dict:
    """``create_app`` keywords for the dispatch mode (``ML_CONNECTOR_WEBHOOK_DISPATCH`` unless
    given): in task-worker mode both routes hand over through ``dispatch`` (a new one unless given)."""
    from .adobe import adobe_handover
    from .dispatch import TASK_WORKER, TaskWorkerDispatch, dispatch_mode

    if (mode or dispatch_mode()) == TASK_WORKER:
        dispatch = dispatch or TaskWorkerDispatch()
        return {"deliver": qbo_handover(dispatch), "adobe": {"deliver": adobe_handover(dispatch)}, "dispatch": dispatch}
    return {"trigger": emit_notification_event}


def serve(tenant: str, port: int, host: str = "127.0.0.1", worker: bool = True) -> None:
    """Serve the app (blocks until SIGINT/SIGTERM). In task-worker mode, and unless ``worker`` is
    False (the worker runs elsewhere), the delivery worker runs as a supervised child process:
    started first, restarted if it dies, stopped with the service."""
    import uvicorn

    from .worker import WorkerSupervisor, worker_argv

    options = dispatch_options()
    dispatch = options.pop("dispatch", None)
    supervisor = WorkerSupervisor(worker_argv(tenant)) if dispatch is not None and worker else None
    log.info("webhooks of %s handed on by %s", tenant,
             "the trigger" if dispatch is None else "the task worker" + (" (own child process)" if supervisor else ""))
    if supervisor:
        supervisor.start()
    # uvicorn shuts down gracefully on SIGTERM, then raises it again for the previous handler:
    # by default that ends the process at once, before the worker is stopped below
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        uvicorn.run(create_app(tenant, **options), host=host, port=port, log_level="warning")
    finally:
        if supervisor:
            supervisor.stop()
        if dispatch is not None:
            dispatch.close()


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)
