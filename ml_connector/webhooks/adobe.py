"""Adobe Commerce webhooks in the webhook service: verify, store once per consumer, answer,
signal Prefect.

``POST /webhooks/adobe`` (observer webhooks and I/O Events deliveries) and
``POST /webhooks/adobe/{hook}`` (plugin webhooks, whose body does not name the event: the route
does), mounted by :func:`ml_connector.webhooks.app.create_app`:

1. verify ``x-adobe-commerce-webhook-signature`` with the connector's
   :class:`~ml_connector.connectors.adobe.webhooks.WebhookVerifier`: RSA SHA-256 with the PEM
   public key from the Commerce Admin (block ``<tenant>-adobe``, ``webhook_public_key``); the
   legacy HMAC-SHA256 shared secret (header ``x-adobe-signature``) only when the block has
   ``webhook_hmac_secret`` and no public key. A bad or missing signature gets 401 and nothing
   is stored;
2. store the notification in the ledger once per *consumer*: every integration of
   ``integrations.py`` with ``webhook_source="adobe"`` that the tenant's mapping configures has
   its own inbox (ml_connector/inbox.py: ledger integration ``<integration>:webhook``, doc type =
   entity kind, natural key = the event's delivery key), so a redelivered event is a duplicate
   and each consumer processes it once;
3. hand the new notifications on as ``ML_CONNECTOR_WEBHOOK_DISPATCH`` says (webhooks/dispatch.py):
   ``task-worker`` (default): each consumer with a fast path (tasks/adobe_webhook.py) gets its
   new ones through ``.delay()`` of ``adobe-webhook-delivery`` (fallback: the event, labelled
   with that consumer), and the integrations the event starts without keeping an inbox
   (:data:`EVENT_ONLY`) get the event labelled with their name; ``trigger``: emit the Prefect
   event ``ml-connector.adobe.notification`` once (resource: the tenant, the entity kind and
   ``ml-connector.integration: all``); the deployments have triggers on it in prefect.yaml,
   each matching ``all`` or its own integration;
4. answer ``{"op": "success"}`` at once: a webhook is synchronous inside the Commerce operation
   (an order placement waits for it), so the work is left to the run. Counts are in the
   ``x-ml-connector-stored`` / ``x-ml-connector-duplicates`` headers, not in the body, whose
   shape Commerce interprets. A signed body that cannot be read is stored quarantined and still
   answered with success: refusing it would abort the shopper's operation for our problem.

Polling stays on as the safety net: a webhook that never came is late, never lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..connectors.adobe.webhooks import (
    WebhookRefused,
    WebhookVerifier,
    parse_webhook,
    success_reply,
)
from ..connectors.errors import BadDocument
from ..inbox import ADOBE_EVENT, ALL, adobe, emit, store
from ..ledger.schema import QUARANTINED, RECEIVED
from ..ledger.store import Incoming, Ledger
from .body import MAX_BODY, BodyTooLarge, capped_body
from .dispatch import check_ledger_tenant

log = logging.getLogger("ml_connector.webhooks.adobe")

# Integrations whose deployment the event starts but which keep no inbox (integrations.py: they
# read Commerce by cursor, a notification only means "now"): no fast path, the event for them.
EVENT_ONLY = ("commerce-intacct-o2c",)
HMAC_HEADER = "x-adobe-signature"  # the legacy I/O Events header the HMAC variant is sent in


def emit_adobe_event(tenant: str, kind: str, integration: str = ALL) -> None:
    """Tell Prefect a tenant has new Commerce notifications of ``kind``, for ``integration``
    (``all``: every consuming deployment); their triggers (prefect.yaml) start the runs."""
    emit(tenant, ADOBE_EVENT, {"entity-kind": kind, "integration": integration})


def adobe_consumers(tenant: str) -> list[str]:
    """The integrations that consume this tenant's Adobe notifications."""
    from .. import integrations
    from ..runtime.tenant import tenant as tenant_resources

    mapping = tenant_resources(tenant).mapping
    return [spec.name for spec in integrations.INTEGRATIONS.values()
            if getattr(spec, "webhook_source", None) == "adobe" and integrations.configured(spec, mapping)]


def verifier_from_block(tenant: str) -> WebhookVerifier:
    """The tenant's verifier: the RSA public key, or (only when that is not set) the HMAC secret."""
    from ..credentials import load_credentials

    block = load_credentials(tenant, "adobe")
    if block.webhook_public_key:
        return WebhookVerifier(block.webhook_public_key)
    if block.webhook_hmac_secret:
        return WebhookVerifier(hmac_secret=block.webhook_hmac_secret, header=HMAC_HEADER)
    raise ValueError(f"block {tenant}-adobe has no webhook_public_key (nor webhook_hmac_secret)")


class AdobeReceiver:
    """Verifies, stores and signals, for one tenant. Verifier, ledger and consumers come from
    the tenant's block, the configured ledger and the integrations registry on first use,
    unless given."""

    def __init__(self, tenant: str, verifier: WebhookVerifier | None, ledger: Ledger | None,
                 consumers: Iterable[str] | None, trigger: Callable[[str, str], None] | None,
                 deliver: Callable[[str, str, dict[str, list[int]], Ledger], None] | None = None) -> None:
        check_ledger_tenant(tenant, ledger)
        self.tenant, self.trigger, self.deliver = tenant, trigger, deliver
        self._verifier, self._ledger = verifier, ledger
        self._consumers = list(consumers) if consumers is not None else None

    def settings(self) -> tuple[WebhookVerifier, Ledger, list[str]]:
        if self._verifier is None:
            self._verifier = verifier_from_block(self.tenant)
        if self._ledger is None:
            from ..runtime.tenant import tenant as tenant_resources

            self._ledger = tenant_resources(self.tenant).ledger
        if self._consumers is None:
            self._consumers = adobe_consumers(self.tenant)
        return self._verifier, self._ledger, self._consumers

    def store(self, body: bytes, hook: str | None) -> tuple[str | None, dict[str, list[int]], int]:
        """The notification as one row per consumer; returns (kind, new ledger ids by consumer,
        duplicates)."""
        _, ledger, consumers = self.settings()
        try:
            event = parse_webhook(body, event_name=hook)
            row = dict(doc_type=event.entity_kind or "unknown", partner="", natural_key=event.natural_key[:256],
                       source_ref=f"{event.event_name}:{','.join(event.entity_ids)}"[:512],
                       raw_payload=json.dumps({"event": event.event_name, "kind": event.entity_kind,
                                               "ids": list(event.entity_ids), "event_id": event.event_id}).encode())
            incoming = Incoming(**row, status=RECEIVED)
            kind = event.entity_kind
        except BadDocument as exc:
            digest = hashlib.sha256(body).hexdigest()[:32]
            incoming = Incoming(doc_type="unreadable", partner="", natural_key=f"sha256-{digest}", source_ref=hook or "",
                                raw_payload=body, status=QUARANTINED, error_class=exc.classification,
                                last_error=" ".join(str(exc).split())[:300])
            kind = None
        stored = store(ledger, [adobe(consumer) for consumer in consumers], [incoming])
        return kind, stored.new_ids, stored.duplicates

    async def handle(self, request: Request) -> JSONResponse:
        try:
            body = await capped_body(request, MAX_BODY)
        except BodyTooLarge:
            return JSONResponse({"error": "body too large"}, status_code=413)
        verifier = (await run_in_threadpool(self.settings))[0]
        try:
            verifier.verify(body, request.headers)
        except WebhookRefused as exc:
            log.warning("Adobe webhook refused for %s: %s", self.tenant, exc)
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        kind, new_ids, duplicates = await run_in_threadpool(self.store, body, request.path_params.get("hook"))
        stored = sum(len(ids) for ids in new_ids.values())
        if stored and kind and self.deliver is not None:
            self.deliver(self.tenant, kind, new_ids, self.settings()[1])
        elif stored and kind and self.trigger is not None:
            self.trigger(self.tenant, kind)
        return JSONResponse(success_reply(), headers={"x-ml-connector-stored": str(stored),
                                                      "x-ml-connector-duplicates": str(duplicates)})


def adobe_routes(tenant: str, *, verifier: WebhookVerifier | None = None, ledger: Ledger | None = None,
                 consumers: Iterable[str] | None = None,
                 trigger: Callable[[str, str], None] | None = emit_adobe_event,
                 deliver: Callable[[str, str, dict[str, list[int]], Ledger], None] | None = None) -> list[Route]:
    """The Adobe routes for one tenant, to mount in the webhook service's app. ``deliver(tenant,
    kind, new_ids_by_consumer, ledger)``, when given, takes the new notifications instead of
    ``trigger(tenant, kind)`` (:func:`adobe_handover`)."""
    receiver = AdobeReceiver(tenant, verifier, ledger, consumers, trigger, deliver)
    return [Route("/webhooks/adobe", receiver.handle, methods=["POST"]),
            Route("/webhooks/adobe/{hook:str}", receiver.handle, methods=["POST"])]


def adobe_handover(dispatch, emit: Callable[..., None] = emit_adobe_event,
                   event_only: Iterable[str] = EVENT_ONLY) -> Callable[[str, str, dict[str, list[int]], Ledger], None]:
    """``adobe_routes``' ``deliver`` in task-worker mode: one hand-over per consumer with a fast
    path (``adobe-webhook-delivery`` through ``dispatch``, webhooks/dispatch.py; fallback: the
    event labelled with that consumer), the labelled event for every other consumer and for
    the :data:`EVENT_ONLY` integrations (not ``all``: that would start the consumers' runs too)."""
    from functools import partial

    from ..tasks.adobe_webhook import DELIVERIES
    from .dispatch import Handover

    def deliver(tenant: str, kind: str, new_ids: dict[str, list[int]], ledger: Ledger) -> None:
        for consumer, ids in new_ids.items():
            fallback = partial(emit, tenant, kind, consumer)
            if consumer in DELIVERIES:
                dispatch(Handover(tenant, adobe(consumer), tuple(ids), ledger, fallback=fallback,
                                  submit=partial(_delay_adobe, tenant, consumer, list(ids), kind),
                                  what=f"{consumer} notification(s)"))
            else:
                fallback()
        for integration in event_only:
            if integration not in new_ids:
                emit(tenant, kind, integration)

    return deliver


def _delay_adobe(tenant: str, integration: str, note_ids: list[int], kind: str) -> None:
    from ..tasks.adobe_webhook import adobe_webhook_delivery
    from .dispatch import tenant_task

    tenant_task(adobe_webhook_delivery, tenant).delay(tenant, integration, note_ids, kind)
