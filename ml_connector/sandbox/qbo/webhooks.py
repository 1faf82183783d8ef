"""Webhook notifications as Intuit sends them, for the QBO emulator (reference §B.11).

Two payload shapes: the legacy ``eventNotifications`` object (grouped by realm, no event id)
and the CloudEvents array (one element per event, with an ``id``). Both are signed the same
way: ``intuit-signature: base64(HMAC-SHA256(verifier_token, raw body))``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .store import Change

_VERBS = {"Create": "created", "Update": "updated", "Delete": "deleted", "Merge": "merged",
          "Void": "voided", "Emailed": "emailed"}


def change_from(event: Change | dict, default_realm: str) -> Change:
    """A :class:`Change` from a change-log entry or a dict with ``entity``/``name``, ``id``,
    ``operation`` and optionally ``realm_id``, ``time`` and ``event_id``."""
    if isinstance(event, Change):
        return event
    return Change(
        realm_id=str(event.get("realm_id") or default_realm),
        entity=str(event.get("entity") or event["name"]),
        id=str(event["id"]),
        operation=str(event.get("operation") or "Update"),
        time=str(event.get("time") or datetime.now(UTC).isoformat()),
        event_id=str(event.get("event_id") or _digest(event)),
    )


def _digest(event: dict) -> str:
    return hashlib.sha256(json.dumps(event, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _utc(when: str, digits: int) -> str:
    moment = datetime.fromisoformat(when).astimezone(UTC)
    fraction = f"{moment.microsecond:06d}{'0' * 3}"[:digits]  # CloudEvents carry nanoseconds
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + "Z"


def legacy_payload(changes: Iterable[Change]) -> dict:
    """``{"eventNotifications": [...]}``: one notification per realm, in first-seen order."""
    by_realm: dict[str, list[dict]] = {}
    for change in changes:
        by_realm.setdefault(change.realm_id, []).append({
            "name": change.entity, "id": change.id, "operation": change.operation,
            "lastUpdated": _utc(change.time, 3),
        })
    return {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": entities}}
                                   for realm, entities in by_realm.items()]}


def cloudevents_payload(changes: Iterable[Change], app_source: str) -> list[dict]:
    """The CloudEvents array: ``type`` is ``qbo.<entity>.<verb>.v1``."""
    return [{
        "specversion": "1.0", "id": change.event_id, "source": app_source,
        "type": f"qbo.{change.entity.lower()}.{_VERBS.get(change.operation, change.operation.lower())}.v1",
        "datacontenttype": "application/json", "time": _utc(change.time, 9),
        "intuitentityid": change.id, "intuitaccountid": change.realm_id, "data": {},
    } for change in changes]


def signed(payload: Any, verifier_token: str) -> tuple[bytes, dict[str, str]]:
    """(raw body, headers) with the ``intuit-signature`` Intuit would send."""
    body = json.dumps(payload).encode("utf-8")
    mac = hmac.new(verifier_token.encode("utf-8"), body, hashlib.sha256).digest()
    return body, {"intuit-signature": base64.b64encode(mac).decode("ascii"), "Content-Type": "application/json"}
