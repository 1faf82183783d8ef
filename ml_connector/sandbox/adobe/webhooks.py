"""Adobe Commerce webhook deliveries, signed as Commerce signs them (reference §A.7, §A.8).

Commerce webhooks (``Magento_AdobeCommerceWebhooks``) carry ``x-adobe-commerce-webhook-signature``:
base64 of an RSASSA-PKCS1-v1_5 / SHA-256 signature made with the instance's private key; the
receiver verifies it with the PEM public key the Admin shows. What bytes are signed is [P] in
the reference: most likely base64(raw body), which is the default here (``signed_message=
"base64-body"``); ``"raw-body"`` signs the body itself, for the other reading.

The HMAC variant is the legacy Adobe I/O Events scheme (``x-adobe-signature`` = base64
HMAC-SHA256 of the raw body with a shared secret), which some code wrongly applies to
Commerce webhooks; the emulator offers it so a receiver can be tested against both.
I/O Events deliveries (CloudEvents) are signed with RSA-SHA256 over the raw body in
``x-adobe-digital-signature-1``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNATURE_HEADER = "x-adobe-commerce-webhook-signature"
HMAC_HEADER = "x-adobe-signature"
IO_SIGNATURE_HEADER = "x-adobe-digital-signature-1"
# Default hook per document kind: the observer event Commerce fires after the save.
EVENTS = {"order": "sales_order_place_after", "invoice": "sales_order_invoice_save_after",
          "creditmemo": "sales_order_creditmemo_save_after", "customer": "customer_save_after",
          "shipment": "sales_order_shipment_save_after"}
_DATA_KEYS = {"order": "order", "invoice": "invoice", "creditmemo": "creditmemo", "customer": "customer",
              "shipment": "shipment"}


_SHARED: list[rsa.RSAPrivateKey] = []


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class WebhookSigner:
    """The instance's RSA-2048 key pair ("Regenerate key pair" in the Admin) and HMAC secret."""

    def __init__(self, hmac_secret: str = "adobe-sandbox-webhook-secret", signed_message: str = "base64-body") -> None:
        if signed_message not in ("base64-body", "raw-body"):
            raise ValueError("signed_message is 'base64-body' or 'raw-body'")
        self._private: rsa.RSAPrivateKey | None = None
        self.hmac_secret, self.signed_message = hmac_secret, signed_message

    @property
    def _key(self) -> rsa.RSAPrivateKey:
        # RSA-2048 generation costs up to a second: emulators share one process-wide pair until
        # regenerate() gives one its own (the Admin's "Regenerate key pair")
        if self._private is None:
            if not _SHARED:
                _SHARED.append(_new_key())
            self._private = _SHARED[0]
        return self._private

    def regenerate(self) -> str:
        """A new key pair for this instance; returns the new public key (the old one stops verifying)."""
        self._private = _new_key()
        return self.public_key_pem()

    def public_key_pem(self) -> str:
        """The ``-----BEGIN PUBLIC KEY-----`` text an admin copies from the configuration page."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")

    def _rsa(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")

    def sign(self, body: bytes, scheme: str = "rsa") -> dict[str, str]:
        """The signature headers for ``body``: ``rsa`` (Commerce webhooks) or ``hmac`` (legacy)."""
        if scheme == "rsa":
            message = base64.b64encode(body) if self.signed_message == "base64-body" else body
            return {SIGNATURE_HEADER: self._rsa(message)}
        if scheme == "hmac":
            mac = hmac.new(self.hmac_secret.encode("utf-8"), body, hashlib.sha256).digest()
            return {HMAC_HEADER: base64.b64encode(mac).decode("ascii")}
        raise ValueError("scheme is 'rsa' or 'hmac'")

    def sign_io_event(self, body: bytes) -> dict[str, str]:
        return {IO_SIGNATURE_HEADER: self._rsa(body), "x-adobe-public-key1-path": "/sandbox/adobe/webhook-public-key"}


def webhook_payload(kind: str, document: dict, event_name: str | None = None) -> dict:
    """An observer webhook body: ``{"eventName": ..., "data": {<kind>: {...}}}`` (§A.7)."""
    return {"eventName": event_name or EVENTS[kind], "data": {_DATA_KEYS.get(kind, kind): document}}


def io_event(kind: str, document: dict, event_name: str | None, client_id: str, time: str) -> dict:
    """A CloudEvents 1.0 envelope of an I/O Events delivery (§A.8)."""
    name = event_name or EVENTS[kind]
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "urn:uuid:ml-connector-sandbox",
            "type": f"com.adobe.commerce.observer.{name}", "datacontenttype": "application/json",
            "time": time.replace(" ", "T") + ".000Z", "event_id": str(uuid.uuid4()), "recipient_client_id": client_id,
            "data": {"key": str(uuid.uuid4()), "source": "sandbox.adobe", "value": document,
                     "_metadata": {"commerceEdition": "Adobe Commerce", "commerceVersion": "2.4.7",
                                   "storeId": str(document.get("store_id", 1))}}}


def encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def verify_rsa(body: bytes, signature_b64: str, public_key_pem: str, signed_message: str = "base64-body") -> bool:
    """The receiver's check, as the reference's Python example does it (for tests and the demo)."""
    key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
    message = base64.b64encode(body) if signed_message == "base64-body" else body
    try:
        key.verify(base64.b64decode(signature_b64), message, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
    except Exception:  # any failure (bad base64, bad signature) means "not signed by Commerce"
        return False
    return True
