"""The webhook service: one small ASGI app (Starlette) receiving QuickBooks Online notifications.

``POST /webhooks/qbo``:

1. verify ``intuit-signature`` (base64 HMAC-SHA256 of the raw body with the tenant's verifier
   token, compared in constant time); a bad or missing signature gets 401 and nothing is stored;
2. parse the legacy or CloudEvents payload and store each event in the ledger (integration
   ``qbo-webhook``, natural key = the event id), so a redelivered notification is a duplicate
   and is processed once;
3. answer 200 at once (Intuit wants an answer within 3 s); the work happens in the
   ``qbo-to-sps`` deployment, started in a background thread with ``run_deployment(...,
   timeout=0)``. Without a deployment this is logged and the hourly CDC run is the safety net.

``ml-connector webhooks serve --port N --tenant T`` serves it with uvicorn.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..connectors.errors import BadDocument
from ..connectors.qbo.webhooks import SIGNATURE_HEADER, parse_notification, verify_signature
from ..ledger.store import Incoming, Ledger

log = logging.getLogger("ml_connector.webhooks")

WEBHOOK = "qbo-webhook"
DEPLOYMENT = "qbo-to-sps/qbo-to-sps"
MAX_BODY = 1_000_000


def start_deployment(tenant: str) -> None:
    """Start the outbound deployment run without waiting for it (background thread)."""
    def run() -> None:
        try:
            from prefect.deployments import run_deployment

            run_deployment(DEPLOYMENT, parameters={"tenant": tenant}, timeout=0)
        except Exception as exc:  # no deployment, no server: the hourly CDC run picks it up
            log.warning("could not start %s for %s (%s); the scheduled CDC run will pick the change up",
                        DEPLOYMENT, tenant, " ".join(str(exc).split())[:200])

    threading.Thread(target=run, name="qbo-webhook-trigger", daemon=True).start()


def create_app(tenant: str, *, verifier_token: str | Callable[[], str] | None = None, ledger: Ledger | None = None,
               realm_id: str | None = None, trigger: Callable[[str], None] | None = start_deployment) -> Starlette:
    """The ASGI app for one tenant. Without ``verifier_token``/``ledger`` they come from the
    tenant's ``<tenant>-qbo`` block and the configured ledger, read on first use."""
    state: dict = {}

    def settings() -> tuple[str, Ledger, str | None]:
        if "token" not in state:
            token, realm = verifier_token, realm_id
            if token is None:
                from ..credentials import load_credentials

                block = load_credentials(tenant, "qbo")
                token = block.verifier_token.get_secret_value() if block.verifier_token else ""
                realm = realm or block.realm_id
            if ledger is None:
                from ..tasks.resources import tenant as tenant_resources

                state["ledger"] = tenant_resources(tenant).ledger
            else:
                state["ledger"] = ledger
            state["token"], state["realm"] = token, realm
        token = state["token"]
        return (token() if callable(token) else token), state["ledger"], state["realm"]

    def store(body: bytes) -> dict:
        token, led, realm = settings()
        events = parse_notification(body)
        rows = [Incoming(doc_type="notification", partner=e.realm_id, natural_key=e.event_id,
                         source_ref=f"{e.entity}:{e.id}:{e.operation}",
                         raw_payload=json.dumps({"realm": e.realm_id, "entity": e.entity, "id": e.id,
                                                 "operation": e.operation, "event_id": e.event_id,
                                                 "last_updated": e.last_updated.isoformat() if e.last_updated else None
                                                 }).encode())
                for e in events if realm is None or e.realm_id == realm]
        result = led.ingest(WEBHOOK, rows, "webhook")
        return {"events": len(events), "stored": len(result.new_ids), "duplicates": result.duplicates,
                "other_realm": len(events) - len(rows)}

    async def qbo(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        token = (await run_in_threadpool(settings))[0]
        if not verify_signature(body, request.headers.get(SIGNATURE_HEADER), token):
            log.warning("QBO webhook refused: bad or missing %s", SIGNATURE_HEADER)
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            answer = await run_in_threadpool(store, body)
        except BadDocument as exc:
            return JSONResponse({"error": " ".join(str(exc).split())[:200]}, status_code=400)
        if answer["stored"] and trigger is not None:
            trigger(tenant)
        return JSONResponse(answer)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "tenant": tenant})

    return Starlette(routes=[Route("/webhooks/qbo", qbo, methods=["POST"]), Route("/health", health)])


def serve(tenant: str, port: int, host: str = "127.0.0.1") -> None:
    import uvicorn

    uvicorn.run(create_app(tenant), host=host, port=port, log_level="warning")
