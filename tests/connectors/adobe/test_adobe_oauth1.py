"""OAuth 1.0a signing: known-answer vectors, an independent implementation, and a Magento-side
verifier that recomputes every signature from the reference's rules (§A.2.2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import httpx
import pytest
from adobe_fake import FakeMagento, client_for, error, fixture, oauth_config

from ml_connector.connectors.adobe import Filter, SearchCriteria, oauth1
from ml_connector.connectors.errors import AuthError

# X (Twitter) "Creating a signature": the widely reproduced worked example, with its secrets.
X_URL = "https://api.twitter.com/1.1/statuses/update.json"
X_OAUTH = {"oauth_consumer_key": "xvz1evFS4wEEPTGEFPHBog", "oauth_nonce": "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
           "oauth_signature_method": "HMAC-SHA1", "oauth_timestamp": "1318622958",
           "oauth_token": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb", "oauth_version": "1.0"}
X_BASE = ("POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26"
          "oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3DkYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26"
          "oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1318622958%26"
          "oauth_token%3D370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26"
          "status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521")


def test_known_answer_vector_base_string_and_hmac_sha1():
    pairs = [*X_OAUTH.items(), ("include_entities", "true"),
             ("status", "Hello Ladies + Gentlemen, a signed OAuth request!")]
    base = oauth1.signature_base_string("post", X_URL, pairs)
    assert base == X_BASE
    signature = oauth1.sign(base, "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
                            "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE", "HMAC-SHA1")
    assert signature == "hCtSmYh+iHYCEqBWrE7C7hYmtUk="


def test_rfc5849_base_string_example_with_form_body_and_odd_query():
    # RFC 5849 §3.4.1.1: duplicate names, an encoded '=', an empty value, a form body.
    url = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
    oauth = {"oauth_consumer_key": "9djdj82h48djs9d2", "oauth_token": "kkk9d7dh3k39sjv7",
             "oauth_signature_method": "HMAC-SHA1", "oauth_timestamp": "137131201", "oauth_nonce": "7d8f3e4a"}
    pairs = [*oauth.items(), *oauth1.decode_query(httpx.URL(url).query.decode()), ("c2", ""), ("a3", "2 q")]
    assert oauth1.signature_base_string("POST", url, pairs) == (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26"
        "c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26"
        "oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7")


def test_base_string_uri_normalization():
    assert oauth1.base_string_uri("HTTPS://Shop.Example.COM:443/rest/default/V1/orders?x=1") == \
        "https://shop.example.com/rest/default/V1/orders"
    assert oauth1.base_string_uri("http://localhost:8080/rest/V1/orders") == "http://localhost:8080/rest/V1/orders"


def test_hmac_sha256_signature_matches_oauthlib():
    oauthlib = pytest.importorskip("oauthlib.oauth1")
    criteria = SearchCriteria().where(Filter("updated_at", datetime(2025, 6, 1, tzinfo=UTC), "gteq")) \
        .order_by("updated_at").page(1, 100)
    url = "https://shop.example.com/rest/default/V1/orders?" + oauth1.encode_query(criteria.to_pairs())
    header = oauth1.signed_header("GET", url, consumer_key="ck", consumer_secret="cs&odd", token="tk",
                                  token_secret="ts", timestamp=1484095699, nonce="TivkWr")
    theirs = oauthlib.Client("ck", client_secret="cs&odd", resource_owner_key="tk", resource_owner_secret="ts",
                             signature_method=oauthlib.SIGNATURE_HMAC_SHA256, nonce="TivkWr", timestamp="1484095699")
    _, their_headers, _ = theirs.sign(url, "GET")
    ours = oauth1.parse_authorization_header(header)["oauth_signature"]
    assert ours == oauth1.parse_authorization_header(their_headers["Authorization"])["oauth_signature"]


def magento_verifier(config, seen: list[dict]):
    """Recomputes the signature as Magento does: header values rawurldecoded, query pairs split
    on '=' and rawurldecoded ('+' stays a plus), JSON bodies unsigned, key = enc(cs)&enc(ts)."""

    def guard(request: httpx.Request):
        params = oauth1.parse_authorization_header(request.headers.get("authorization", ""))
        seen.append(params)
        if params.get("oauth_consumer_key") != config.consumer_key or params.get("oauth_token") != \
                config.access_token.get_secret_value():
            return error(401, "The consumer isn't authorized to access %resources.", {"resources": "Magento_Sales::sales"})
        pairs = [(k, v) for k, v in params.items() if k != "oauth_signature"]
        for part in filter(None, request.url.query.decode().split("&")):
            bits = part.split("=")
            if len(bits) == 2:
                pairs.append((unquote(bits[0]), unquote(bits[1])))
        base = "&".join([request.method, quote(f"{request.url.scheme}://{request.url.host}{request.url.path}", safe=""),
                         quote("&".join(f"{k}={v}" for k, v in sorted((quote(k, safe='~'), quote(v, safe='~'))
                                                                    for k, v in pairs)), safe="")])
        digest = {"HMAC-SHA256": hashlib.sha256, "HMAC-SHA1": hashlib.sha1}[params.get("oauth_signature_method", "")]
        key = f"{quote(config.consumer_secret.get_secret_value(), safe='~')}&" \
              f"{quote(config.access_token_secret.get_secret_value(), safe='~')}"
        expected = base64.b64encode(hmac.new(key.encode(), base.encode(), digest).digest()).decode()
        if not hmac.compare_digest(expected, params.get("oauth_signature", "")):
            return error(401, "The signature is invalid. Verify and try again.")
        return None

    return guard


@pytest.mark.parametrize("method", ["HMAC-SHA256", "HMAC-SHA1"])
def test_every_call_is_signed_with_the_query_included(method):
    config = oauth_config(signature_method=method)
    order = fixture("order_b2b_po.json")
    magento, seen = FakeMagento({"orders": [order]}), []
    magento.guard = magento_verifier(config, seen)
    with client_for(magento, config) as client:
        # A timestamp with a space, a like with '%', and a value with '=' and '+' all go through
        # the query, and so through the signature.
        criteria = SearchCriteria().where(Filter("updated_at", datetime(2017, 8, 21, tzinfo=UTC), "gteq")) \
            .where(Filter("increment_id", "0000%", "like"), Filter("customer_email", "a+b=c@example.com"))
        page = client.search("orders", criteria.page(1, 10))
        assert [o.increment_id for o in page.items] == ["000000003"]
        assert client.get_order(3).po_number == "PO-4471"
    assert {p["oauth_signature_method"] for p in seen} == {method}
    assert len({p["oauth_nonce"] for p in seen}) == len(seen) == 2
    assert b"+" not in magento.requests[0].url.query  # spaces travel as %20, never '+'


def test_a_query_built_by_httpx_is_re_encoded_before_signing():
    config = oauth_config()
    magento, seen = FakeMagento({"orders": [fixture("order_b2b_po.json")]}), []
    magento.guard = magento_verifier(config, seen)
    with client_for(magento, config) as client:
        response = client.http.get(config.api_root + "V1/orders",
                                   params={"searchCriteria[filter_groups][0][filters][0][field]": "status",
                                           "searchCriteria[filter_groups][0][filters][0][value]": "pending payment"})
    assert response.status_code == 200
    assert b"pending%20payment" in magento.requests[0].url.query


def test_wrong_secret_is_refused_and_not_retried_or_leaked():
    verifier_config = oauth_config()
    magento, seen = FakeMagento({"orders": []}), []
    magento.guard = magento_verifier(verifier_config, seen)
    with client_for(magento, oauth_config(access_token_secret="another-secret")) as client:
        with pytest.raises(AuthError) as info:
            client.search("orders")
    assert len(magento.requests) == 1  # an integration has nothing to renew: no second try
    assert "signature is invalid" in str(info.value)
    assert "another-secret" not in str(info.value) and "another-secret" not in info.value.body_excerpt
