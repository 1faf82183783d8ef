"""Adobe Commerce webhooks as pure functions: verify ``x-adobe-commerce-webhook-signature``,
parse the payload into what the ledger needs, and build the reply Commerce expects.

The signature (reference §A.7) is RSA, not HMAC, whatever Adobe's prose says: Commerce signs
with a private key and shows the PEM public key in the Admin (Stores > Configuration > Adobe
Services > Webhooks); the header is base64(RSASSA-PKCS1-v1_5 / SHA-256). What is signed is
most likely ``base64(raw body)`` [P], Adobe's examples verify that, so it is the default;
``signed_message="raw"`` verifies over the raw body instead, for an instance shown to do that.
Only one of the two is accepted per verifier: accepting both would let a captured signature
vouch for a second body (the base64 text of the first).

An HMAC-SHA256 shared secret is legacy Adobe I/O Events, not Commerce webhooks; it is
available only when configured explicitly (``hmac_secret``), and compared in constant time.

Payload shapes: observer webhooks ``{"eventName": ..., "data": {"order": {...}}}``; plugin
webhooks send the method's arguments (``{"order": {...}}``), so their name comes from the route
(``event_name=``); I/O Events arrive as CloudEvents (``specversion``, ``id``, ``type``,
``data.value``). Each parsed :class:`WebhookEvent` has a ``natural_key`` that is the same on
every redelivery of the same notification: the ledger's replay detection keys on it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr

from .._http import register_secret
from ..errors import AuthError, BadDocument
from .errors import SYSTEM
from .search import parse_ts

SIGNATURE_HEADER = "x-adobe-commerce-webhook-signature"
# Event-name fragments -> entity kind; the more specific ones first ("sales_order_invoice" is
# an invoice, not an order).
_KIND_BY_EVENT = (("creditmemo", "creditmemos"), ("invoice", "invoices"), ("shipment", "shipments"),
                  ("order", "orders"), ("customer", "customers"), ("product", "products"), ("company", "companies"))
# Payload keys of the entity object -> kind (observer data and plugin arguments).
_KIND_BY_KEY = {"creditmemo": "creditmemos", "invoice": "invoices", "shipment": "shipments", "order": "orders",
                "customer": "customers", "product": "products", "company": "companies"}


class WebhookRefused(AuthError):
    """The request is not provably from Commerce: answer 401 and store nothing."""

    classification = "webhook_refused"


@dataclass(frozen=True)
class WebhookEvent:
    """One notification: which event, about which entities, with the entity data sent."""

    event_name: str
    event_id: str
    entity_kind: str | None
    entity_ids: tuple[str, ...] = ()
    increment_id: str | None = None
    updated_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def natural_key(self) -> str:
        """The ledger key for replay detection: event name and delivery id."""
        return f"{self.event_name}:{self.event_id}"


def hmac_signature(body: bytes, secret: str) -> str:
    """``base64(HMAC-SHA256(secret, body))``: the explicit HMAC option's header value."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


@functools.lru_cache(maxsize=32)
def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """The RSA public key of a PEM text (as copied from the Commerce Admin); ValueError otherwise."""
    key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the Commerce webhook key must be an RSA public key")
    return key


def verify_signature(body: bytes, header: str | None, public_key_pem: str, *,
                     signed_message: Literal["base64", "raw"] = "base64") -> bool:
    """Whether ``header`` is Commerce's RSA signature of ``body``; never raises for bad input."""
    signature = _b64(header)
    if signature is None:
        return False
    message = base64.b64encode(body) if signed_message == "base64" else body
    try:
        load_public_key(public_key_pem).verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


class WebhookVerifier:
    """Checks every inbound webhook against the configured key; refusals are typed."""

    def __init__(self, public_key_pem: str | None = None, *, hmac_secret: SecretStr | str | None = None,
                 header: str = SIGNATURE_HEADER, signed_message: Literal["base64", "raw"] = "base64") -> None:
        if not public_key_pem and not hmac_secret:
            raise ValueError("configure the Commerce webhook public key (or, explicitly, an HMAC secret)")
        if public_key_pem:
            load_public_key(public_key_pem)  # a bad key is a configuration error, found now
        secret = hmac_secret.get_secret_value() if isinstance(hmac_secret, SecretStr) else hmac_secret
        register_secret(secret)
        self._pem, self._secret = public_key_pem, secret
        self.header, self.signed_message = header.lower(), signed_message

    def __repr__(self) -> str:
        return f"WebhookVerifier(mode={'rsa' if self._pem else 'hmac'!r}, header={self.header!r})"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Return if ``body`` is signed by Commerce; raise :class:`WebhookRefused` otherwise."""
        value = _header(headers, self.header)
        if not value or not value.strip():
            raise WebhookRefused(f"webhook without {self.header} header", system=SYSTEM, operation="webhook")
        if _b64(value) is None:
            raise WebhookRefused("webhook signature is not base64", system=SYSTEM, operation="webhook")
        if self._pem:
            ok = verify_signature(body, value, self._pem, signed_message=self.signed_message)
        else:
            ok = hmac.compare_digest(hmac_signature(body, self._secret or "").encode("ascii"), value.strip().encode("ascii"))
        if not ok:
            raise WebhookRefused("webhook signature does not verify", system=SYSTEM, operation="webhook")


def parse_webhook(body: bytes | str, *, event_name: str | None = None) -> WebhookEvent:
    """The event of an observer, plugin or I/O Events payload; anything else -> ``BadDocument``.

    ``event_name`` names a plugin webhook, whose body does not (take it from the route)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadDocument("Adobe Commerce webhook body is not JSON", system=SYSTEM, operation="webhook") from None
    if not isinstance(data, dict):
        raise BadDocument("Adobe Commerce webhook body is not a JSON object", system=SYSTEM, operation="webhook")
    if "specversion" in data:
        return _cloud_event(data)
    name = data.get("eventName") if isinstance(data.get("eventName"), str) else event_name
    if not name:
        raise BadDocument("Adobe Commerce webhook without eventName (pass event_name for plugin webhooks)",
                          system=SYSTEM, operation="webhook")
    payload = data.get("data")
    if not isinstance(payload, dict):
        payload = data
    key, entity = _entity(payload)
    kind = _KIND_BY_KEY.get(key) if key else _kind_of_event(name)
    # A synchronous webhook has no delivery id: a digest of name and body is the same on
    # every retry of the same call, which is what replay detection needs.
    digest = hashlib.sha256(name.encode() + b"\n" + _canonical(data)).hexdigest()[:32]
    return _event(name, f"sha256-{digest}", kind, entity)


def _cloud_event(data: dict) -> WebhookEvent:
    kind_name, event_id = data.get("type"), data.get("id")
    if not isinstance(kind_name, str) or not kind_name or not isinstance(event_id, (str, int)) or event_id == "":
        raise BadDocument("Adobe I/O event without type or id", system=SYSTEM, operation="webhook")
    inner, value = data.get("data"), None
    if isinstance(inner, dict):
        value = inner.get("value")
    if not isinstance(value, dict):
        value = {}
    return _event(kind_name, str(event_id), _kind_of_event(kind_name), value)


def _event(name: str, event_id: str, kind: str | None, entity: dict) -> WebhookEvent:
    ident = entity.get("entity_id", entity.get("id"))
    ids = (str(ident),) if isinstance(ident, (int, str)) and not isinstance(ident, bool) and str(ident) else ()
    increment = entity.get("increment_id")
    try:
        updated = parse_ts(entity.get("updated_at"))
    except (ValueError, TypeError):
        updated = None
    return WebhookEvent(event_name=name, event_id=event_id, entity_kind=kind, entity_ids=ids,
                        increment_id=str(increment) if isinstance(increment, (str, int)) else None,
                        updated_at=updated, data=entity)


def _entity(payload: dict) -> tuple[str | None, dict]:
    for key in _KIND_BY_KEY:
        if isinstance(payload.get(key), dict):
            return key, payload[key]
    return None, {}


def _kind_of_event(name: str) -> str | None:
    lowered = name.lower()
    return next((kind for fragment, kind in _KIND_BY_EVENT if fragment in lowered), None)


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


def _b64(value: str | None) -> bytes | None:
    if not value:
        return None
    try:
        decoded = base64.b64decode(value.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return decoded or None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # a plain dict: look the name up case-insensitively
        value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == name), None)
    return value


def success_reply() -> dict[str, str]:
    """The answer that lets the Commerce operation go on (reference §A.7)."""
    return {"op": "success"}


def exception_reply(message: str) -> dict[str, str]:
    """The answer that makes Commerce abort the operation with ``message`` (required hooks)."""
    return {"op": "exception", "class": "Magento\\Framework\\Exception\\LocalizedException", "message": message}
