"""Webhook signature checks and payload parsing, legacy and CloudEvents, fixtures and emulator."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ml_connector.connectors.errors import BadDocument
from ml_connector.connectors.qbo.webhooks import SIGNATURE_HEADER, parse_notification, sign, verify_signature
from ml_connector.sandbox.qbo import QboEmulator

FIXTURES = Path(__file__).parents[2] / "fixtures" / "qbo"
VERIFIER = "verifier-token-from-the-portal"


def test_valid_signature_over_the_raw_bytes():
    body = (FIXTURES / "webhook_legacy.json").read_bytes()
    assert verify_signature(body, sign(body, VERIFIER), VERIFIER)


@pytest.mark.parametrize("header", [None, "", "not base64!!", base64.b64encode(b"x" * 32).decode(), "\u00e9\u00e9"])
def test_missing_malformed_or_wrong_signatures_fail(header):
    body = (FIXTURES / "webhook_legacy.json").read_bytes()
    assert not verify_signature(body, header, VERIFIER)


def test_a_changed_body_or_another_verifier_token_fails():
    body = (FIXTURES / "webhook_cloudevents.json").read_bytes()
    signature = sign(body, VERIFIER)
    assert not verify_signature(body + b" ", signature, VERIFIER)  # re-serialized JSON is another body
    assert not verify_signature(body, signature, "another-token")
    assert not verify_signature(body, signature, "")


def test_legacy_payload():
    events = parse_notification((FIXTURES / "webhook_legacy.json").read_bytes())
    assert [(e.realm_id, e.entity, e.id, e.operation) for e in events] == [
        ("310687", "PurchaseOrder", "1234", "Create"), ("310687", "Vendor", "56", "Merge")]
    assert events[0].last_updated == datetime(2025, 9, 8, 20, 52, 31, 657000, tzinfo=UTC)
    assert events[1].deleted_id == "57"
    assert events[0].event_id.startswith("legacy-") and events[0].event_id != events[1].event_id


def test_cloudevents_payload():
    events = parse_notification((FIXTURES / "webhook_cloudevents.json").read_bytes())
    assert [(e.entity, e.id, e.operation, e.realm_id) for e in events] == [
        ("PurchaseOrder", "1234", "Create", "310687"), ("Invoice", "130", "Void", "310687")]
    assert events[0].event_id == "88cd52aa-33b6-4351-9aa4-47572edbd068"
    assert events[0].last_updated == datetime(2025, 9, 10, 21, 31, 25, 179851, tzinfo=UTC)


@pytest.mark.parametrize("name", ["webhook_legacy.json", "webhook_cloudevents.json"])
def test_a_redelivered_notification_reports_the_same_event_ids_for_dedup(name):
    body = (FIXTURES / name).read_bytes()
    first, replay = parse_notification(body), parse_notification(body)
    assert [e.event_id for e in first] == [e.event_id for e in replay]
    assert len({e.event_id for e in first}) == len(first)


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b'{"something": "else"}', b"[1, 2]",
                                  b'{"eventNotifications": [{"dataChangeEvent": {}}]}',
                                  b'[{"specversion": "1.0", "type": "qbo.invoice.created.v1"}]'])
def test_bad_payloads_are_bad_documents(body):
    with pytest.raises(BadDocument):
        parse_notification(body)


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
def test_emulator_notifications_verify_and_parse(fmt):
    emu = QboEmulator()
    vendor = emu.add_vendor("Acme Supply")
    emu.edit("Vendor", vendor["Id"], CompanyName="Acme Inc")
    body, headers = emu.signed_notification(fmt=fmt)
    creds = emu.credentials()
    assert verify_signature(body, headers[SIGNATURE_HEADER], creds["verifier_token"])
    events = parse_notification(body)
    assert [(e.entity, e.id, e.operation) for e in events] == [("Vendor", vendor["Id"], "Create"),
                                                              ("Vendor", vendor["Id"], "Update")]
    assert all(e.realm_id == creds["realm_id"] and e.last_updated is not None for e in events)
    # the same change delivered twice carries the same event id
    again, _ = emu.signed_notification(emu.changes()[:1], fmt=fmt)
    assert parse_notification(again)[0].event_id == events[0].event_id
