"""Property tests on the codecs that read what other systems send: any input yields a parsed
result or one of our typed errors, never another exception."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector.connectors.adobe.kinds import KINDS
from ml_connector.connectors.adobe.kinds import parse_entity as parse_adobe_entity
from ml_connector.connectors.adobe.webhooks import parse_webhook as parse_adobe_webhook
from ml_connector.connectors.errors import IntegrationError
from ml_connector.connectors.intacct.codec import parse_response
from ml_connector.connectors.qbo.webhooks import parse_notification, verify_signature

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

XMLISH = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=300).map(
        lambda t: f"<response><control><status>{t}</status></control></response>".encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"<", b"<response/>", b"<response><operation/></response>",
                     b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'b'>]><response>&a;</response>",
                     b"<response><control><status>success</status></control><operation><result><status>failure"
                     b"</status></result></operation></response>"]),
)
JSONISH = st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                 lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                 max_leaves=20).map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b'{"eventNotifications": [{}]}', b'{"eventNotifications": [{"dataChangeEvent": {"entities": [{}]}}]}',
                     b'[{"specversion": "1.0"}]', b"[]", b"{}"]),
)


@FAST
@given(XMLISH)
def test_intacct_response_codec_never_raises_anything_untyped(body):
    try:
        parse_response(body)
    except IntegrationError:
        pass


@FAST
@given(JSONISH)
def test_qbo_webhook_parser_never_raises_anything_untyped(body):
    try:
        events = parse_notification(body)
    except IntegrationError:
        return
    assert isinstance(events, list)


@FAST
@given(st.binary(max_size=200), st.one_of(st.none(), st.text(max_size=60)))
def test_qbo_signature_check_accepts_only_the_bodys_own_signature(body, header):
    """Any header (absent, not base64, a signature of something else) is refused without raising;
    Intuit's HMAC of this very body with this verifier token is accepted."""
    real = base64.b64encode(hmac.new(b"verifier-token", body, hashlib.sha256).digest()).decode()
    assert verify_signature(body, header, "verifier-token") is (header is not None and header.strip() == real)
    assert verify_signature(body, f" {real}\n", "verifier-token") is True
    assert verify_signature(body, real, "another-verifier-token") is False


# Adobe Commerce entities: random values under the field names the models type, so parsing
# reaches the validators (timestamps, Decimal money, nested items), not only the shape check.
ADOBE_FIELDS = ["entity_id", "id", "increment_id", "order_id", "sku", "email", "company_name", "company_id",
                "grand_total", "updated_at", "created_at", "items", "payment", "custom_attributes", "qty", "state",
                "extension_attributes", "billing_address", "item_id", "price", "status_histories", "tracks"]
ADOBE_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    | st.sampled_from(["2025-06-01 10:00:00", "2025-13-01 99:00:00", "NaN", "1e999", "-0", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(ADOBE_FIELDS), inner, max_size=5),
    max_leaves=25)


@FAST
@given(st.sampled_from(sorted(KINDS)), st.one_of(ADOBE_VALUE, st.dictionaries(st.sampled_from(ADOBE_FIELDS), ADOBE_VALUE)))
def test_adobe_entity_parser_never_raises_anything_untyped(kind, raw):
    try:
        parse_adobe_entity(kind, raw)
    except IntegrationError:
        pass


@FAST
@given(JSONISH)
def test_adobe_webhook_parser_never_raises_anything_untyped(body):
    try:
        parse_adobe_webhook(body)
    except IntegrationError:
        pass
