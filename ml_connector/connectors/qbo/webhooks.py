"""QBO webhooks as pure functions: check the ``intuit-signature``, parse either payload shape.

Intuit signs the raw body: ``base64(HMAC-SHA256(key=verifier_token, msg=body))`` in the
``intuit-signature`` header (reference §B.11), for the legacy payload and for the CloudEvents
payload alike. Notifications carry ids only; the receiver fetches the objects (or runs CDC).
Deliveries are retried and can arrive out of order or more than once, so every
:class:`ChangeEvent` has an ``event_id`` that is the same on every delivery of the same event:
the CloudEvents ``id``, or for the legacy shape (which has none) a digest of its fields.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import BadDocument

SIGNATURE_HEADER = "intuit-signature"

# CloudEvents ``type`` is ``qbo.<entity>.<verb>.v1`` with the entity in lower case.
_ENTITY_NAMES = {
    name.lower(): name
    for name in ("PurchaseOrder", "Invoice", "Vendor", "Customer", "Item", "Account", "Bill", "BillPayment",
                 "Payment", "SalesReceipt", "CreditMemo", "Estimate", "JournalEntry", "Employee", "Class",
                 "Department", "Term", "TaxCode", "Purchase", "VendorCredit", "RefundReceipt", "Deposit",
                 "Transfer", "TimeActivity", "Budget", "Currency", "Attachable", "PaymentMethod")
}
_VERBS = {"created": "Create", "updated": "Update", "deleted": "Delete", "merged": "Merge",
          "voided": "Void", "emailed": "Emailed"}


@dataclass(frozen=True)
class ChangeEvent:
    """One change QBO told us about. ``operation`` uses the legacy words (Create, Update...)."""

    realm_id: str
    entity: str
    id: str
    operation: str
    last_updated: datetime | None
    event_id: str
    deleted_id: str | None = None  # a Merge names the object merged away


def sign(body: bytes, verifier_token: str) -> str:
    """The ``intuit-signature`` value for ``body``."""
    mac = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def verify_signature(body: bytes, header: str | None, verifier_token: str) -> bool:
    """Whether ``header`` is Intuit's signature of the raw ``body``; compared in constant time."""
    if not header or not verifier_token:
        return False
    try:
        given = base64.b64decode(header.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    expected = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return hmac.compare_digest(given, expected)


def parse_notification(body: bytes | str) -> list[ChangeEvent]:
    """The events of a legacy (``eventNotifications``) or CloudEvents (JSON array) payload."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadDocument("QBO webhook body is not JSON", system="qbo", operation="webhook") from None
    except RecursionError:  # nested deeper than the parser goes: no notification looks like that
        raise BadDocument("QBO webhook body is nested too deeply", system="qbo", operation="webhook") from None
    if isinstance(data, list):
        return [_cloud_event(item) for item in data]
    if isinstance(data, dict) and "specversion" in data:  # a single event, not wrapped in an array
        return [_cloud_event(data)]
    if isinstance(data, dict) and isinstance(data.get("eventNotifications"), list):
        return [event for note in data["eventNotifications"] for event in _legacy_notification(note)]
    raise BadDocument("QBO webhook body is neither the legacy nor the CloudEvents shape",
                      system="qbo", operation="webhook")


def _legacy_notification(note: Any) -> list[ChangeEvent]:
    if not isinstance(note, dict) or not note.get("realmId"):
        raise BadDocument("QBO webhook notification without realmId", system="qbo", operation="webhook")
    change = note.get("dataChangeEvent") or {}
    entities = change.get("entities") if isinstance(change, dict) else None
    if not isinstance(entities, list):
        raise BadDocument("QBO webhook notification without dataChangeEvent.entities",
                          system="qbo", operation="webhook")
    return [_legacy_entity(str(note["realmId"]), e) for e in entities]


def _legacy_entity(realm_id: str, entity: Any) -> ChangeEvent:
    if not isinstance(entity, dict) or not entity.get("name") or entity.get("id") in (None, ""):
        raise BadDocument("QBO webhook entity without name or id", system="qbo", operation="webhook")
    name, oid = str(entity["name"]), str(entity["id"])
    operation, updated = str(entity.get("operation") or ""), entity.get("lastUpdated")
    # The legacy shape has no event id: a digest of what identifies the event is the same on
    # every redelivery, which is what dedup needs.
    digest = hashlib.sha256("|".join((realm_id, name, oid, operation, str(updated))).encode()).hexdigest()
    return ChangeEvent(realm_id=realm_id, entity=name, id=oid, operation=operation,
                       last_updated=_timestamp(updated), event_id=f"legacy-{digest[:32]}",
                       deleted_id=str(entity["deletedId"]) if entity.get("deletedId") else None)


def _cloud_event(event: Any) -> ChangeEvent:
    if not isinstance(event, dict):
        raise BadDocument("QBO CloudEvent is not an object", system="qbo", operation="webhook")
    parts = str(event.get("type") or "").split(".")
    realm, oid, event_id = event.get("intuitaccountid"), event.get("intuitentityid"), event.get("id")
    if len(parts) < 3 or parts[0] != "qbo" or not realm or oid in (None, "") or not event_id:
        raise BadDocument(f"QBO CloudEvent lacks type/intuitaccountid/intuitentityid/id: {str(event)[:120]}",
                          system="qbo", operation="webhook")
    entity = _ENTITY_NAMES.get(parts[1].lower(), parts[1][:1].upper() + parts[1][1:])
    operation = _VERBS.get(parts[2].lower(), parts[2].capitalize())
    data = event.get("data")
    if not isinstance(data, dict):
        data = {}
    deleted = data.get("deletedId") or data.get("deletedid")
    return ChangeEvent(realm_id=str(realm), entity=entity, id=str(oid), operation=operation,
                       last_updated=_timestamp(event.get("time")), event_id=str(event_id),
                       deleted_id=str(deleted) if deleted else None)


def _timestamp(value: Any) -> datetime | None:
    """An ISO-8601 time; CloudEvents times have nanoseconds, which ``datetime`` cannot hold."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:min(digits, 6)]}{rest[digits:]}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
