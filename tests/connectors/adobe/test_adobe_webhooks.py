"""Signed Commerce webhooks (reference §A.7): RSA over base64(body), the explicit HMAC option,
typed refusals, and payloads parsed into ledger keys."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ml_connector.connectors.adobe.webhooks import (
    SIGNATURE_HEADER,
    WebhookRefused,
    WebhookVerifier,
    hmac_signature,
    parse_webhook,
    success_reply,
    verify_signature,
)
from ml_connector.connectors.errors import AuthError, BadDocument

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
BODY = json.dumps({"eventName": "sales_order_place_after", "data": {"order": {
    "entity_id": 3, "increment_id": "000000003", "updated_at": "2025-06-01 10:00:00", "base_grand_total": 104.59,
    "payment": {"method": "purchaseorder", "po_number": "PO-1"}}}}).encode()


def rsa_sign(body: bytes, key=KEY, message: str = "base64") -> str:
    signed = base64.b64encode(body) if message == "base64" else body
    return base64.b64encode(key.sign(signed, padding.PKCS1v15(), hashes.SHA256())).decode()


def test_good_rsa_signature_passes():
    WebhookVerifier(PEM).verify(BODY, {SIGNATURE_HEADER: rsa_sign(BODY)})
    WebhookVerifier(PEM).verify(BODY, {"X-Adobe-Commerce-Webhook-Signature": rsa_sign(BODY)})  # any header case
    assert verify_signature(BODY, rsa_sign(BODY), PEM)


@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "without x-adobe-commerce-webhook-signature"),
    ({SIGNATURE_HEADER: "  "}, "without"),
    ({SIGNATURE_HEADER: "not base64 !!"}, "not base64"),
    ({SIGNATURE_HEADER: base64.b64encode(b"\x00" * 256).decode()}, "does not verify"),
    ({SIGNATURE_HEADER: rsa_sign(BODY, OTHER)}, "does not verify"),  # forged with another key
    ({SIGNATURE_HEADER: rsa_sign(BODY, message="raw")}, "does not verify"),  # right key, other message form
    ({SIGNATURE_HEADER: rsa_sign(BODY.replace(b"104.59", b"1.00"))}, "does not verify"),  # body tampered
])
def test_bad_missing_or_forged_signatures_are_refused(headers, reason):
    with pytest.raises(WebhookRefused, match=reason) as info:
        WebhookVerifier(PEM).verify(BODY, headers)
    assert isinstance(info.value, AuthError)


def test_a_signature_vouches_for_one_message_form_only():
    sig = rsa_sign(BODY)  # what Commerce sends: a signature over base64(body)
    WebhookVerifier(PEM).verify(BODY, {SIGNATURE_HEADER: sig})
    with pytest.raises(WebhookRefused):  # replayed with the base64 text as the body
        WebhookVerifier(PEM).verify(base64.b64encode(BODY), {SIGNATURE_HEADER: sig})
    raw = WebhookVerifier(PEM, signed_message="raw")  # an instance shown to sign the raw body
    raw.verify(BODY, {SIGNATURE_HEADER: rsa_sign(BODY, message="raw")})
    with pytest.raises(WebhookRefused):
        raw.verify(BODY, {SIGNATURE_HEADER: sig})


def test_hmac_only_when_configured():
    verifier = WebhookVerifier(hmac_secret="whsec-s3cret-value")
    verifier.verify(BODY, {SIGNATURE_HEADER: hmac_signature(BODY, "whsec-s3cret-value")})
    with pytest.raises(WebhookRefused, match="does not verify"):
        verifier.verify(BODY, {SIGNATURE_HEADER: hmac_signature(BODY, "guessed-secret")})
    with pytest.raises(WebhookRefused):  # an RSA verifier never accepts an HMAC
        WebhookVerifier(PEM).verify(BODY, {SIGNATURE_HEADER: hmac_signature(BODY, "whsec-s3cret-value")})
    assert "whsec-s3cret-value" not in repr(verifier)


def test_configuration_errors_are_found_at_start():
    with pytest.raises(ValueError, match="public key"):
        WebhookVerifier()
    with pytest.raises(ValueError):
        WebhookVerifier("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----")


def test_observer_payload_gives_event_entity_and_a_stable_natural_key():
    event = parse_webhook(BODY)
    assert event.event_name == "sales_order_place_after" and event.entity_kind == "orders"
    assert event.entity_ids == ("3",) and event.increment_id == "000000003"
    assert event.data["payment"]["po_number"] == "PO-1" and event.updated_at.year == 2025
    again = parse_webhook(json.dumps(json.loads(BODY), indent=2).encode())  # same content, other bytes
    assert again.natural_key == event.natural_key
    other = parse_webhook(BODY.replace(b"10:00:00", b"10:05:00"))
    assert other.natural_key != event.natural_key


def test_plugin_payload_takes_its_name_from_the_route():
    body = json.dumps({"subject": [], "invoice": {"entity_id": 11, "order_id": 3}}).encode()
    with pytest.raises(BadDocument, match="eventName"):
        parse_webhook(body)
    event = parse_webhook(body, event_name="plugin.magento.sales.api.invoice_repository.save")
    assert event.entity_kind == "invoices" and event.entity_ids == ("11",)


def test_io_events_cloud_event():
    body = json.dumps({"specversion": "1.0", "id": "80579197-e708-47bf-801c-7a82ec7d36c4",
                       "type": "com.adobe.commerce.observer.sales_order_creditmemo_save_after",
                       "data": {"value": {"entity_id": 7, "order_id": 3, "updated_at": "2023-08-16 08:40:19"}}}).encode()
    event = parse_webhook(body)
    assert event.entity_kind == "creditmemos" and event.entity_ids == ("7",)
    assert event.natural_key == ("com.adobe.commerce.observer.sales_order_creditmemo_save_after:"
                                 "80579197-e708-47bf-801c-7a82ec7d36c4")


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'"x"', b'{"specversion": "1.0"}', b"{}",
                                  b'{"eventName": 5, "data": 1}'])
def test_unreadable_payloads_are_bad_documents(body):
    with pytest.raises(BadDocument):
        parse_webhook(body)


def test_reply_shape():
    assert success_reply() == {"op": "success"}
