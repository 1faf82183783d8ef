"""Deployment detection and the token lifecycles: IMS (ACCS), admin token, bearer integration."""

from __future__ import annotations

import json
import pickle
from urllib.parse import parse_qs

import httpx
import pytest
from adobe_fake import FakeMagento, client_for, error, fixture, no_sleep_policy, oauth_config
from pydantic import ValidationError

from ml_connector.connectors.adobe import AdobeConfig, detect_deployment
from ml_connector.connectors.adobe.auth import AdminTokenAuth, ImsAuth, OAuth1Auth, StaticBearerAuth, make_auth
from ml_connector.connectors.errors import AuthError, RateLimited, TransientError

SAAS = "https://na1-sandbox.api.commerce.adobe.com/Tenant123"
IMS = "https://ims-na1.adobelogin.com/ims/token/v3"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ims_config(**overrides) -> AdobeConfig:
    values = dict(base_url=SAAS, ims_client_id="client-abc", ims_client_secret="ims-s3cret-value", ims_org_id="ORG@AdobeOrg")
    return AdobeConfig(**{**values, **overrides})


@pytest.mark.parametrize(("url", "kind"), [
    (SAAS, "saas"), ("https://NA1.api.commerce.adobe.com/t1", "saas"), ("https://shop.example.com", "paas"),
    ("https://shop.example.com/rest/default", "paas"), ("http://localhost:8080", "paas"),
    ("https://api.commerce.adobe.com.evil.example/t", "paas"),
])
def test_deployment_is_detected_from_the_host(url, kind):
    assert detect_deployment(url) == kind


@pytest.mark.parametrize(("base_url", "store", "root"), [
    ("https://shop.example.com", None, "https://shop.example.com/rest/"),
    ("https://shop.example.com/", "default", "https://shop.example.com/rest/default/"),
    ("https://shop.example.com/rest", "all", "https://shop.example.com/rest/all/"),
    ("https://shop.example.com/rest/default", None, "https://shop.example.com/rest/default/"),
    ("https://shop.example.com/magento", "default", "https://shop.example.com/magento/rest/default/"),
])
def test_paas_api_root(base_url, store, root):
    assert oauth_config(base_url=base_url, store_code=store).api_root == root


def test_auth_mode_follows_deployment_and_credentials():
    assert oauth_config().mode == "oauth1" and isinstance(make_auth(oauth_config()), OAuth1Auth)
    assert ims_config().mode == "ims" and ims_config().api_root == SAAS + "/"
    admin = AdobeConfig(base_url="https://shop.example.com", username="api", password="pw-value")
    assert admin.mode == "admin" and isinstance(make_auth(admin), AdminTokenAuth)
    bearer = AdobeConfig(base_url="https://shop.example.com", access_token="at-value")
    assert bearer.mode == "bearer" and isinstance(make_auth(bearer), StaticBearerAuth)
    with pytest.raises(ValidationError, match="needs consumer_key"):
        AdobeConfig(base_url="https://shop.example.com", auth_mode="oauth1")
    with pytest.raises(ValidationError, match="only IMS"):
        AdobeConfig(base_url=SAAS, auth_mode="oauth1", consumer_key="k", consumer_secret="s", access_token="t",
                    access_token_secret="u")
    with pytest.raises(ValidationError, match="commerce.accs"):
        ims_config(ims_scopes=("openid",))


def test_secrets_stay_out_of_reprs_and_validation_errors():
    config = ims_config()
    text = repr(config) + str(config.model_dump()) + repr(make_auth(config))
    assert "ims-s3cret-value" not in text
    with pytest.raises(ValidationError) as info:
        AdobeConfig(base_url=SAAS, ims_client_secret="leaky-s3cret", ims_org_id="o")
    assert "leaky-s3cret" not in str(info.value)


class FakeIms:
    """IMS token endpoint (reference §A.2.5) in front of a SaaS API that checks the bearer."""

    def __init__(self, expires_in: int = 86399) -> None:
        self.expires_in, self.issued, self.valid = expires_in, 0, set()
        self.forms: list[dict] = []
        self.api_calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == IMS:
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            self.forms.append(form)
            if form.get("client_secret") != "ims-s3cret-value":
                return httpx.Response(400, json={"error": "invalid_client",
                                                 "error_description": "invalid client_secret parameter"})
            self.issued += 1
            token = f"ims-token-{self.issued}"
            self.valid.add(token)
            return httpx.Response(200, json={"access_token": token, "token_type": "bearer", "expires_in": self.expires_in})
        self.api_calls.append(request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid or request.headers.get("x-api-key") != "client-abc" \
                or request.headers.get("x-gw-ims-org-id") != "ORG@AdobeOrg":
            return error(401, "The consumer isn't authorized to access %resources.", {"resources": "Magento_Sales::sales"})
        return httpx.Response(200, json=fixture("order_b2b_po.json"))


def test_ims_token_is_minted_once_and_sent_with_the_adobe_headers():
    ims = FakeIms()
    with client_for(ims, ims_config()) as client:
        assert client.get_order(3).increment_id == "000000003"
        client.get_order(3)
    assert ims.issued == 1
    form = ims.forms[0]
    assert form["grant_type"] == "client_credentials" and "commerce.accs" in form["scope"].split(",")
    assert ims.api_calls[0].url.path == "/Tenant123/V1/orders/3"


def test_ims_token_is_renewed_early_and_on_401():
    ims, clock = FakeIms(expires_in=86399), Clock()
    auth = ImsAuth(ims_config(), clock=clock)
    with client_for(ims, ims_config()) as client:
        client.http.auth = auth
        client.get_order(3)
        clock.now += 86399 - 599  # inside the last ten minutes: renewed before use
        client.get_order(3)
        assert ims.issued == 2
        ims.valid.clear()  # revoked server-side: the next call gets a 401, renews once, succeeds
        client.get_order(3)
        assert ims.issued == 3 and auth.renewals == 3


def test_ims_second_401_is_an_auth_error():
    ims = FakeIms()
    ims.valid = type("Never", (set,), {"__contains__": lambda self, item: False})()
    with client_for(ims, ims_config()) as client, pytest.raises(AuthError) as info:
        client.get_order(3)
    assert ims.issued == 2  # the first token, and exactly one renewal
    assert "isn't authorized to access Magento_Sales::sales" in str(info.value)


def test_ims_refusal_and_outage_are_typed_and_secret_free():
    with client_for(FakeIms(), ims_config(ims_client_secret="wrong-s3cret-value")) as client, \
            pytest.raises(AuthError) as info:
        client.get_order(3)
    assert "invalid_client" in str(info.value) and "wrong-s3cret-value" not in repr(pickle.loads(pickle.dumps(info.value)))

    calls = []

    def down(request):
        calls.append(request)
        return httpx.Response(503, text="upstream") if str(request.url) == IMS else httpx.Response(200, json={})

    with client_for(down, ims_config(), policy=no_sleep_policy(3)) as client, pytest.raises(TransientError):
        client.get_order(3)
    assert len(calls) == 3  # retried by _http, never reaching the API

    def throttled(request):
        return httpx.Response(429, headers={"Retry-After": "7"}) if str(request.url) == IMS else httpx.Response(200)

    with client_for(throttled, ims_config(), policy=no_sleep_policy(1)) as client, pytest.raises(RateLimited) as info:
        client.get_order(3)
    assert info.value.retry_after == 7


def admin_magento(tokens: list[str], *, two_factor: bool = False) -> FakeMagento:
    magento = FakeMagento({"orders": [fixture("order_b2b_po.json")]})
    valid: set[str] = set()

    def token(request):
        body = json.loads(request.content)
        if body != {"username": "api-user", "password": "pw-s3cret-value"}:
            return error(401, "The account sign-in was incorrect or your account is disabled temporarily. "
                              "Please wait and try again later.")
        if two_factor:
            return error(401, "Please use the 2fa provider-specific endpoints to obtain a token.",
                         {"active_providers": ["google"]})
        value = f"jwt-admin-{len(tokens) + 1}"
        tokens.append(value)
        valid.add(value)
        return httpx.Response(200, json=value)  # a bare JSON string

    magento.routes[("POST", "integration/admin/token")] = token
    magento.guard = lambda r: None if r.url.path.endswith("/token") or \
        r.headers.get("authorization", "").removeprefix("Bearer ") in valid else \
        error(401, "The consumer isn't authorized to access %resources.", {"resources": "Magento_Sales::sales"})
    magento.valid = valid  # type: ignore[attr-defined]
    return magento


def admin_config(**overrides) -> AdobeConfig:
    return AdobeConfig(**{**dict(base_url="https://shop.example.com", store_code="default", username="api-user",
                                 password="pw-s3cret-value"), **overrides})


def test_admin_token_lives_four_hours_and_is_renewed_on_expiry_and_401():
    tokens: list[str] = []
    magento, clock = admin_magento(tokens), Clock()
    config = admin_config()
    with client_for(magento, config) as client:
        client.http.auth = AdminTokenAuth(config, clock=clock)
        client.get_order(3)
        clock.now += 3 * 3600
        client.get_order(3)
        assert tokens == ["jwt-admin-1"]
        clock.now += 3600 - 299  # within five minutes of the 4 h lifetime
        client.get_order(3)
        assert tokens == ["jwt-admin-1", "jwt-admin-2"]
        magento.valid.clear()
        client.get_order(3)
        assert tokens[-1] == "jwt-admin-3"


def test_admin_token_with_two_factor_on_explains_what_to_do():
    magento = admin_magento([], two_factor=True)
    with client_for(magento, admin_config()) as client, pytest.raises(AuthError) as info:
        client.get_order(3)
    assert "2fa provider-specific endpoints" in str(info.value) and "use an integration" in str(info.value)


def test_admin_token_bad_password_is_an_auth_error_without_the_password():
    magento = admin_magento([])
    with client_for(magento, admin_config(password="nope-s3cret-value")) as client, pytest.raises(AuthError) as info:
        client.get_order(3)
    assert "sign-in was incorrect" in str(info.value)
    assert "nope-s3cret-value" not in str(info.value) + info.value.body_excerpt


def test_bearer_integration_token():
    magento = FakeMagento({"orders": [fixture("order_b2b_po.json")]})
    magento.guard = lambda r: None if r.headers.get("authorization") == "Bearer at-bearer-value" else error(401, "no")
    config = AdobeConfig(base_url="https://shop.example.com", store_code="default", access_token="at-bearer-value")
    with client_for(magento, config) as client:
        assert client.get_order(3).entity_id == 3


def test_config_from_the_credentials_block():
    from ml_connector.credentials import AdobeCredentials

    block = AdobeCredentials(base_url="https://shop.example.com", store_code="default", consumer_key="ck",
                             consumer_secret="cs-value", access_token="at-value", access_token_secret="ats-value",
                             verify_tls=False)
    config = AdobeConfig.from_credentials(block)
    assert config.mode == "oauth1" and config.verify is False and config.api_root == "https://shop.example.com/rest/default/"
    assert config.consumer_secret.get_secret_value() == "cs-value"
    assert sorted(block.secrets()) == ["at-value", "ats-value", "cs-value"]
