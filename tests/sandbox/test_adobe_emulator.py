"""The Adobe Commerce emulator over raw HTTP: the reference sheet's checklist (§A), one behaviour per test.

OAuth 1.0a requests are signed with oauthlib (installed with Prefect, through apprise and
requests-oauthlib), an implementation independent of the emulator's verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import queue
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_HMAC_SHA256, Client

from ml_connector.sandbox.adobe import AdobeEmulator
from ml_connector.sandbox.adobe.seed import BAD_LABELS, seed_adobe
from ml_connector.sandbox.adobe.webhooks import verify_rsa
from ml_connector.sandbox.base import FaultPlan

REPO = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def make(orders: int = 30, **options) -> tuple[AdobeEmulator, httpx.Client, Clock]:
    clock = Clock()
    emu = AdobeEmulator(clock=clock, **options)
    with emu.lock:
        seed_adobe(emu.store, orders=orders, seed=7)
    return emu, httpx.Client(transport=emu.transport(), base_url=emu.base_url), clock


def criteria(*groups: list[tuple[str, str, str]], sort=(), page_size=None, page=None, camel=False) -> dict:
    """Flat ``searchCriteria[...]`` pairs; each group is a list of (field, value, condition)."""
    fg, ct = ("filterGroups", "conditionType") if camel else ("filter_groups", "condition_type")
    params = {"searchCriteria": ""} if not (groups or sort or page_size or page) else {}
    for g, group in enumerate(groups):
        for f, (field, value, cond) in enumerate(group):
            base = f"searchCriteria[{fg}][{g}][filters][{f}]"
            params.update({f"{base}[field]": field, f"{base}[value]": value, f"{base}[{ct}]": cond})
    for s, (field, direction) in enumerate(sort):
        params[f"searchCriteria[sortOrders][{s}][field]"] = field
        if direction:
            params[f"searchCriteria[sortOrders][{s}][direction]"] = direction
    if page_size is not None:
        params["searchCriteria[pageSize]"] = str(page_size)
    if page is not None:
        params["searchCriteria[currentPage]"] = str(page)
    return params


def signed(emu: AdobeEmulator, method: str, path: str, params: dict | None = None, *, sig=SIGNATURE_HMAC_SHA256,
           nonce: str | None = None, timestamp: str | None = None, plus: bool = False, **secrets) -> tuple[str, dict]:
    """(url, headers) of an OAuth 1.0a-signed request; the query is %20-encoded unless ``plus``."""
    creds = {**emu.credentials(), **secrets}
    query = urlencode(params or {}, quote_via=quote if not plus else lambda s, *a: quote(s, safe=" ").replace(" ", "+"))
    url = f"{emu.base_url}{path}" + (f"?{query}" if query else "")
    client = Client(creds["consumer_key"], client_secret=creds["consumer_secret"],
                    resource_owner_key=creds["access_token"], resource_owner_secret=creds["access_token_secret"],
                    signature_method=sig, nonce=nonce, timestamp=timestamp)
    uri, headers, _ = client.sign(url, http_method=method)
    return uri, headers


def oauth_get(emu, http, path, params=None, **kw) -> httpx.Response:
    url, headers = signed(emu, "GET", path, params, **kw)
    return http.get(url, headers=headers)


def admin_token(http: httpx.Client, emu: AdobeEmulator) -> str:
    creds = emu.credentials()
    answer = http.post("/rest/V1/integration/admin/token",
                       json={"username": creds["username"], "password": creds["password"]})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def world():
    emu, http, clock = make()
    return emu, http, clock, {"Authorization": f"Bearer {admin_token(http, emu)}"}


def orders(emu: AdobeEmulator) -> list[dict]:
    return [emu.document("order", o["entity_id"]) for o in emu.store.rows("order")]


# -- searchCriteria grammar --------------------------------------------------------------------


def test_filters_in_one_group_are_ored_and_groups_are_anded(world):
    emu, http, _, auth = world
    first, second = orders(emu)[0]["increment_id"], orders(emu)[3]["increment_id"]
    ored = http.get("/rest/V1/orders", headers=auth, params=criteria(
        [("increment_id", first, "eq"), ("increment_id", second, "eq")])).json()
    assert sorted(o["increment_id"] for o in ored["items"]) == sorted([first, second]) and ored["total_count"] == 2
    anded = http.get("/rest/V1/orders", headers=auth, params=criteria(
        [("store_id", "2", "eq")], [("state", "processing", "eq"), ("state", "complete", "eq")])).json()
    expected = {o["increment_id"] for o in orders(emu) if o["store_id"] == 2 and o["state"] in ("processing", "complete")}
    assert expected and {o["increment_id"] for o in anded["items"]} == expected


@pytest.mark.parametrize("cond,value,check", [
    ("gt", "300", lambda o: Decimal(str(o["grand_total"])) > 300),
    ("gteq", "300", lambda o: Decimal(str(o["grand_total"])) >= 300),
    ("lt", "300", lambda o: Decimal(str(o["grand_total"])) < 300),
    ("lteq", "300", lambda o: Decimal(str(o["grand_total"])) <= 300),
    ("from", "100", lambda o: Decimal(str(o["grand_total"])) >= 100),
    ("to", "100", lambda o: Decimal(str(o["grand_total"])) <= 100),
])
def test_numeric_conditions(world, cond, value, check):
    emu, http, _, auth = world
    answer = http.get("/rest/V1/orders", headers=auth, params=criteria([("grand_total", value, cond)])).json()
    numeric = [o for o in orders(emu) if not isinstance(o["grand_total"], str)]
    assert answer["total_count"] == sum(1 for o in numeric if check(o)) > 0


def test_string_conditions_ignore_case_like_mysql(world):
    emu, http, _, auth = world
    everyone = orders(emu)
    email = next(o["customer_email"] for o in everyone if o.get("customer_email"))
    same = [o for o in everyone if o.get("customer_email") == email]

    def count(*group):
        return http.get("/rest/V1/orders", headers=auth, params=criteria(list(group))).json()["total_count"]

    assert count(("customer_email", email.upper(), "eq")) == len(same)
    assert count(("customer_email", "%@EXAMPLE.NET", "like")) == sum(1 for o in everyone if o.get("customer_is_guest"))
    assert count(("customer_email", email, "neq")) == sum(
        1 for o in everyone if o.get("customer_email") not in (None, email))
    assert count(("status", "canceled,closed", "in")) == sum(1 for o in everyone if o["status"] in ("canceled", "closed"))
    assert count(("status", "pending,processing", "nin")) == sum(
        1 for o in everyone if o["status"] not in ("pending", "processing"))
    assert count(("customer_id", "", "null")) == sum(1 for o in everyone if "customer_id" not in o) > 0
    assert count(("customer_id", "", "notnull")) == sum(1 for o in everyone if "customer_id" in o)


def test_camel_case_keys_and_updated_at_with_an_iso_value(world):
    emu, http, _, auth = world
    everyone = sorted(orders(emu), key=lambda o: o["updated_at"])
    pivot = everyone[len(everyone) // 2]["updated_at"]
    iso = pivot.replace(" ", "T") + "Z"
    answer = http.get("/rest/V1/orders", headers=auth, params=criteria([("updated_at", iso, "gteq")], camel=True)).json()
    assert answer["total_count"] == sum(1 for o in everyone if o["updated_at"] >= pivot)
    assert answer["search_criteria"]["filter_groups"][0]["filters"][0] == {
        "field": "updated_at", "value": iso, "condition_type": "gteq"}


def test_sort_defaults_to_desc_and_ties_break_on_the_key(world):
    emu, http, _, auth = world
    desc = http.get("/rest/V1/orders", headers=auth, params=criteria(sort=[("grand_total", None)])).json()["items"]
    totals = [Decimal(str(o["grand_total"])) for o in desc if not isinstance(o["grand_total"], str)]
    assert totals == sorted(totals, reverse=True)
    asc = http.get("/rest/V1/orders", headers=auth, params=criteria(sort=[("store_id", "ASC")])).json()["items"]
    assert [(o.get("store_id"), o["entity_id"]) for o in asc] == sorted((o.get("store_id"), o["entity_id"]) for o in asc)


def test_without_page_size_everything_comes_back_and_the_echo_omits_it(world):
    emu, http, _, auth = world
    answer = http.get("/rest/V1/orders", headers=auth, params=criteria([("store_id", "1", "eq")])).json()
    assert len(answer["items"]) == answer["total_count"] == sum(1 for o in orders(emu) if o["store_id"] == 1)
    assert "page_size" not in answer["search_criteria"] and "current_page" not in answer["search_criteria"]
    assert answer["search_criteria"]["filter_groups"][0]["filters"][0]["value"] == "1"  # echoed as a string


def test_unknown_column_is_a_masked_internal_error_and_a_bad_condition_a_400(world):
    _, http, _, auth = world
    answer = http.get("/rest/V1/orders", headers=auth, params=criteria([("payment.po_number", "x", "eq")]))
    assert answer.status_code == 500
    body = answer.json()
    assert body["message"].endswith("Report ID: %1") and body["parameters"][0].startswith("webapi-")
    answer = http.get("/rest/V1/orders", headers=auth, params=criteria([("state", "x", "between")]))
    assert answer.status_code == 400 and answer.json()["parameters"] == {"value": "between", "fieldName": "condition_type"}


def test_fields_trims_the_answer(world):
    _, http, _, auth = world
    answer = http.get("/rest/V1/orders", headers=auth,
                      params={**criteria(page_size=2), "fields": "items[increment_id,payment[po_number]]"}).json()
    assert set(answer) == {"items"} and all(set(o) <= {"increment_id", "payment"} for o in answer["items"])


def test_entity_id_filters_customers_and_products_by_their_id(world):
    emu, http, _, auth = world
    answer = http.get("/rest/V1/customers/search", headers=auth, params=criteria([("entity_id", "3", "lteq")])).json()
    assert [c["id"] for c in answer["items"]] == [1, 2, 3]
    product = http.get("/rest/V1/products/MLC-TEE-M", headers=auth).json()
    assert product["sku"] == "MLC-TEE-M" and product["type_id"] == "simple"


# -- the paging trap ---------------------------------------------------------------------------


def test_a_page_past_the_end_repeats_the_last_page(world):
    emu, http, _, auth = world
    total = len(emu.store.rows("order"))
    pages = [http.get("/rest/V1/orders", headers=auth, params=criteria(page_size=10, page=p)).json()
             for p in range(1, 7)]
    last = (total + 9) // 10
    ids = [o["entity_id"] for page in pages[:last] for o in page["items"]]
    assert len(ids) == len(set(ids)) == total
    assert all(p["total_count"] == total for p in pages)
    assert pages[last]["items"] == pages[last - 1]["items"]  # page last+1 is page last again
    zero = http.get("/rest/V1/orders", headers=auth, params=criteria(page_size=10, page=0)).json()
    assert zero["items"] == pages[0]["items"]


def test_the_empty_page_mode():
    emu, http, _ = make(past_end="empty")
    auth = {"Authorization": f"Bearer {admin_token(http, emu)}"}
    answer = http.get("/rest/V1/orders", headers=auth, params=criteria(page_size=10, page=99)).json()
    assert answer["items"] == [] and answer["total_count"] == len(emu.store.rows("order"))


def test_input_limits_cap_the_page_size():
    emu, http, _ = make(input_limits=True)
    auth = {"Authorization": f"Bearer {admin_token(http, emu)}"}
    too_big = http.get("/rest/V1/orders", headers=auth, params=criteria(page_size=301))
    assert too_big.status_code == 400 and too_big.json() == {"message": "Maximum SearchCriteria pageSize is %max",
                                                             "parameters": {"max": 300}}
    assert len(http.get("/rest/V1/orders", headers=auth, params=criteria()).json()["items"]) == 20


# -- auth: OAuth 1.0a --------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [SIGNATURE_HMAC_SHA256, SIGNATURE_HMAC_SHA1])
def test_oauth1_signed_request_is_accepted(world, sig):
    emu, http, _, _ = world
    params = criteria([("updated_at", "2026-06-01 00:00:00", "gteq")], sort=[("updated_at", "ASC")], page_size=5)
    answer = oauth_get(emu, http, "/rest/default/V1/orders", params, sig=sig)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["items"]) == 5 and emu.auth_modes["oauth1"] == 1


def test_oauth1_signature_nonce_and_timestamp_are_checked(world):
    emu, http, clock, _ = world
    url, headers = signed(emu, "GET", "/rest/V1/orders", criteria(page_size=1), nonce="n-1")
    assert http.get(url, headers=headers).status_code == 200
    again = http.get(url, headers=headers)  # the very same request: its nonce is spent
    assert again.status_code == 401
    assert again.json() == {"message": "The nonce is already being used by the consumer with ID %1", "parameters": [1]}
    tampered = http.get(url.replace("pageSize%5D=1", "pageSize%5D=2"), headers={
        "Authorization": headers["Authorization"].replace('oauth_nonce="n-1"', 'oauth_nonce="n-2"')})
    assert tampered.status_code == 401  # the nonce is in the signature too
    url, headers = signed(emu, "GET", "/rest/V1/orders", criteria(page_size=1))
    bad = http.get(url + "0", headers=headers)  # query changed after signing
    assert bad.status_code == 401 and bad.json() == {"message": "The signature is invalid. Verify and try again."}
    ahead = oauth_get(emu, http, "/rest/V1/orders", criteria(), timestamp=str(int(clock.now) + 3600))
    assert ahead.status_code == 401
    assert ahead.json()["message"] == "Incorrect timestamp value in the oauth_timestamp parameter"
    stranger = oauth_get(emu, http, "/rest/V1/orders", criteria(), consumer_key="x" * 32)
    assert stranger.status_code == 401 and "consumer" in stranger.json()["message"]
    wrong_secret = oauth_get(emu, http, "/rest/V1/orders", criteria(), access_token_secret="y" * 32)
    assert wrong_secret.status_code == 401


def test_oauth1_plus_in_the_query_is_read_as_magento_reads_it():
    emu, http, _ = make(orders=5)
    params = criteria([("updated_at", "2026-06-01 00:00:00", "gteq")])
    assert oauth_get(emu, http, "/rest/V1/orders", params).status_code == 200  # space sent as %20
    plus = oauth_get(emu, http, "/rest/V1/orders", params, plus=True)  # as '+': Magento signs %2B
    assert plus.status_code == 401 and plus.json()["message"].startswith("The signature is invalid")
    rfc, rfc_http, _ = make(orders=5, oauth_reader="rfc5849")
    assert oauth_get(rfc, rfc_http, "/rest/V1/orders", params, plus=True).status_code == 200


def test_an_unsigned_or_unknown_scheme_gets_the_unfilled_401_template(world):
    _, http, _, _ = world
    for headers in ({}, {"Authorization": "Basic eDp5"}, {"Authorization": "Bearer nonsense"}):
        answer = http.get("/rest/V1/invoices", headers=headers, params=criteria())
        assert answer.status_code == 401
        assert answer.json() == {"message": "The consumer isn't authorized to access %resources.",
                                 "parameters": {"resources": "Magento_Sales::sales_invoice"}}


# -- auth: integration token as Bearer, admin token, IMS ---------------------------------------


def test_integration_token_as_bearer_only_when_enabled():
    for enabled, status in ((False, 401), (True, 200)):
        emu, http, _ = make(orders=3, bearer_enabled=enabled)
        answer = http.get("/rest/V1/orders", params=criteria(),
                          headers={"Authorization": f"Bearer {emu.credentials()['access_token']}"})
        assert answer.status_code == status


def test_admin_token_lives_four_hours(world):
    emu, http, clock, auth = world
    assert http.get("/rest/V1/orders", headers=auth, params=criteria()).status_code == 200
    clock.now += 4 * 3600 + 1
    expired = http.get("/rest/V1/orders", headers=auth, params=criteria())
    assert expired.status_code == 401 and expired.json()["message"] == "The consumer isn't authorized to access %resources."
    wrong = http.post("/rest/V1/integration/admin/token", json={"username": "admin", "password": "guess"})
    assert wrong.status_code == 401


def test_admin_token_with_two_factor_needs_the_provider_endpoint():
    emu, http, _ = make(orders=3, two_factor=True)
    creds = emu.credentials()
    login = {"username": creds["username"], "password": creds["password"]}
    refused = http.post("/rest/V1/integration/admin/token", json=login)
    assert refused.status_code == 401 and refused.json()["parameters"] == {"active_providers": ["google"]}
    token = http.post("/rest/V1/tfa/provider/google/authenticate", json={**login, "otp": creds["otp"]})
    assert token.status_code == 200
    bearer = {"Authorization": f"Bearer {token.json()}"}
    assert http.get("/rest/V1/orders", params=criteria(), headers=bearer).status_code == 200


def ims_token(http: httpx.Client, emu: AdobeEmulator, **override) -> httpx.Response:
    creds = emu.credentials()
    form = {"client_id": creds["ims_client_id"], "client_secret": creds["ims_client_secret"],
            "grant_type": "client_credentials", "scope": "openid,AdobeID,commerce.accs", **override}
    return http.post("/ims/token/v3", data=form)


def test_ims_token_opens_the_saas_flavour_for_24_hours(world):
    emu, http, clock, admin = world
    creds = emu.credentials()
    token = ims_token(http, emu)
    assert token.status_code == 200 and token.json()["expires_in"] == 86399 and token.json()["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {token.json()['access_token']}", "x-api-key": creds["ims_client_id"],
               "x-gw-ims-org-id": creds["ims_org_id"]}
    saas = f"/{creds['tenant_id']}/V1/orders"
    assert http.get(saas, headers=headers, params=criteria()).status_code == 200
    assert http.get(saas, headers={**headers, "x-api-key": "other"}, params=criteria()).status_code == 403
    assert http.get("/rest/V1/orders", headers=headers, params=criteria()).status_code == 401  # not a Magento token
    assert http.get(saas, headers=admin, params=criteria()).status_code == 401  # not an IMS token
    assert http.get("/othertenant/V1/orders", headers=headers, params=criteria()).status_code == 404
    clock.now += 86399
    assert http.get(saas, headers=headers, params=criteria()).status_code == 401


def test_ims_token_endpoint_refuses_bad_requests(world):
    emu, http, _, _ = world
    assert ims_token(http, emu, client_secret="nope").status_code == 401
    no_scope = ims_token(http, emu, scope="openid,AdobeID")
    assert no_scope.status_code == 400 and no_scope.json()["error"] == "invalid_scope"
    assert ims_token(http, emu, grant_type="password").json()["error"] == "unsupported_grant_type"


def test_store_codes_in_the_url(world):
    _, http, _, auth = world
    for code in ("default", "all", "wholesale_us", "wholesale_ca"):
        assert http.get(f"/rest/{code}/V1/orders", headers=auth, params=criteria()).status_code == 200
    unknown = http.get("/rest/nowhere/V1/orders", headers=auth, params=criteria())
    assert unknown.status_code == 404 and unknown.json() == {"message": "Request does not match any route."}


# -- error bodies, rate limits, faults ---------------------------------------------------------


def test_error_bodies_keep_their_placeholders(world):
    _, http, _, auth = world
    missing = http.get("/rest/V1/customers/9999", headers=auth)
    assert missing.status_code == 404
    assert missing.json() == {"message": "No such entity with %fieldName = %fieldValue",
                              "parameters": {"fieldName": "customerId", "fieldValue": "9999"}}
    no_criteria = http.get("/rest/V1/orders", headers=auth)
    assert no_criteria.status_code == 400
    assert no_criteria.json() == {"message": "%fieldName is a required field.",
                                  "parameters": {"fieldName": "searchCriteria"}}
    assert http.get("/rest/V1/orders/9999", headers=auth).status_code == 404


def test_injected_429_has_magentos_body_and_retry_after():
    emu = AdobeEmulator(FaultPlan(rate_429=1.0, retry_after=2.5))
    answer = httpx.Client(transport=emu.transport(), base_url=emu.base_url).get("/rest/V1/orders", params=criteria())
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "2.5"
    assert answer.json() == {"message": "Too Many Requests", "trace": None}


def test_rate_limit_window_answers_429_until_the_window_frees(world):
    emu, http, clock = make(orders=3, rate_limit=2, rate_window=60)
    auth = {"Authorization": f"Bearer {admin_token(http, emu)}"}  # the first of the two
    assert http.get("/rest/V1/orders", headers=auth, params=criteria()).status_code == 200
    limited = http.get("/rest/V1/orders", headers=auth, params=criteria())
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    clock.now += 61
    assert http.get("/rest/V1/orders", headers=auth, params=criteria()).status_code == 200


def test_a_lost_write_response_still_commits(world):
    emu, _, _, auth = world
    emu.faults = FaultPlan(rate_lost_write=1.0)
    http = httpx.Client(transport=emu.transport(), base_url=emu.base_url)
    with pytest.raises(httpx.ReadTimeout):
        http.post("/rest/V1/orders/1/comments", headers=auth, json={"statusHistory": {"comment": "synced"}})
    assert emu.document("order", 1)["status_histories"][0]["comment"] == "synced"


# -- writes ------------------------------------------------------------------------------------


def test_order_comment_answers_true_and_moves_updated_at(world):
    emu, http, clock, auth = world
    before = emu.document("order", 2)["updated_at"]
    clock.now += 3600
    answer = http.post("/rest/V1/orders/2/comments", headers=auth,
                       json={"statusHistory": {"comment": "Posted to Intacct as ARINV-1", "is_customer_notified": 0}})
    assert answer.status_code == 200 and answer.json() is True
    order = emu.document("order", 2)
    assert order["status_histories"][0]["comment"] == "Posted to Intacct as ARINV-1" and order["updated_at"] > before
    assert http.post("/rest/V1/orders/2/comments", headers=auth, json={}).status_code == 400


def test_customer_create_and_update_with_custom_attributes(world):
    emu, http, _, auth = world
    body = {"customer": {"email": "new@example.org", "firstname": "New", "lastname": "Buyer",
                         "custom_attributes": [{"attribute_code": "intacct_customer_id", "value": "C-9"},
                                               {"attribute_code": "undefined_attr", "value": "dropped"}]}}
    created = http.post("/rest/wholesale_us/V1/customers", headers=auth, json=body)
    assert created.status_code == 200, created.text
    customer = created.json()
    assert customer["website_id"] == 2 and customer["custom_attributes"] == [
        {"attribute_code": "intacct_customer_id", "value": "C-9"}]  # undefined attributes vanish silently
    assert http.post("/rest/wholesale_us/V1/customers", headers=auth, json=body).status_code == 400  # same email
    customer["custom_attributes"] = [{"attribute_code": "intacct_customer_id", "value": "C-10"}]
    updated = http.put(f"/rest/V1/customers/{customer['id']}", headers=auth, json={"customer": customer})
    assert updated.status_code == 200 and updated.json()["custom_attributes"][0]["value"] == "C-10"
    no_email = {k: v for k, v in customer.items() if k != "email"}
    refused = http.put(f"/rest/V1/customers/{customer['id']}", headers=auth, json={"customer": no_email})
    assert refused.json() == {"message": '"%fieldName" is required. Enter and try again.',
                              "parameters": {"fieldName": "email"}}


def test_invoice_refund_and_company_credit_writes(world):
    emu, http, _, auth = world
    new = next(o for o in orders(emu) if o["state"] == "new" and not isinstance(o["grand_total"], str)
               and o.get("store_id") in (1, 2, 3) and o["items"][0]["sku"].startswith("MLC"))
    invoice_id = http.post(f"/rest/V1/order/{new['entity_id']}/invoice", headers=auth, json={"capture": True}).json()
    assert isinstance(invoice_id, int)
    order = emu.document("order", new["entity_id"])
    assert order["state"] == "processing" and order["payment"]["amount_paid"] == order["grand_total"]
    memo_id = http.post(f"/rest/V1/invoice/{invoice_id}/refund", headers=auth, json={}).json()
    assert emu.document("creditmemo", memo_id)["state"] == 2
    assert emu.document("order", new["entity_id"])["state"] == "closed"
    credit = http.get("/rest/V1/companyCredits/company/1", headers=auth).json()
    answer = http.post(f"/rest/V1/companyCredits/{credit['id']}/increaseBalance", headers=auth,
                       json={"value": 250, "currency": credit["currency_code"], "operationType": 2})
    assert answer.json() is True
    after = http.get(f"/rest/V1/companyCredits/{credit['id']}", headers=auth).json()
    assert Decimal(str(after["balance"])) == Decimal(str(credit["balance"])) + 250
    refused = http.post(f"/rest/V1/companyCredits/{credit['id']}/increaseBalance", headers=auth,
                        json={"value": 1, "currency": credit["currency_code"], "operationType": 3})
    assert refused.status_code == 400  # Purchased is a decrease


# -- webhooks ----------------------------------------------------------------------------------


def test_webhook_signature_verifies_with_the_admins_public_key(world):
    emu, *_ = world
    body, headers = emu.webhook_delivery("order", 1)
    pem = emu.credentials()["webhook_public_key"]
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    key = serialization.load_pem_public_key(pem.encode())
    signature = base64.b64decode(headers["x-adobe-commerce-webhook-signature"])
    key.verify(signature, base64.b64encode(body), padding.PKCS1v15(), hashes.SHA256())  # raises if wrong
    assert json.loads(body)["eventName"] == "sales_order_place_after"
    assert json.loads(body)["data"]["order"]["entity_id"] == 1
    signature = headers["x-adobe-commerce-webhook-signature"]
    assert not verify_rsa(body.replace(b'"entity_id":1', b'"entity_id":2'), signature, pem)


def test_webhook_variants_hmac_raw_body_and_io_events():
    emu, _, _ = make(orders=3, signed_message="raw-body")
    creds = emu.credentials()
    body, headers = emu.webhook_delivery("customer", 1)
    assert verify_rsa(body, headers["x-adobe-commerce-webhook-signature"], creds["webhook_public_key"], "raw-body")
    body, headers = emu.webhook_delivery("invoice", 1, scheme="hmac")
    mac = hmac.new(creds["webhook_hmac_secret"].encode(), body, hashlib.sha256).digest()
    assert headers["x-adobe-signature"] == base64.b64encode(mac).decode()
    body, headers = emu.io_event_delivery("creditmemo", 1)
    assert json.loads(body)["type"] == "com.adobe.commerce.observer.sales_order_creditmemo_save_after"
    assert verify_rsa(body, headers["x-adobe-digital-signature-1"], creds["webhook_public_key"], "raw-body")


def test_send_webhooks_posts_one_signed_delivery_per_event(world):
    emu, _, _, _ = world
    received: list[tuple[bytes, dict]] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append((request.content, dict(request.headers)))
        return httpx.Response(200, json={"op": "success"})

    start = len(emu.events())
    emu.store.add_comment(1, {"comment": "x"})
    emu.store.invoice(next(o["entity_id"] for o in orders(emu) if o["state"] == "new"))
    answers = emu.send_webhooks("https://receiver.invalid/hook", emu.events(start),
                                http=httpx.Client(transport=httpx.MockTransport(receiver)))
    assert [a.json() for a in answers] == [{"op": "success"}] * 2
    pem = emu.credentials()["webhook_public_key"]
    assert all(verify_rsa(b, h["x-adobe-commerce-webhook-signature"], pem) for b, h in received)
    assert [json.loads(b)["eventName"] for b, _ in received] == ["sales_order_save_after", "sales_order_invoice_save_after"]


# -- seeding -----------------------------------------------------------------------------------


def test_seeding_is_deterministic_and_labels_its_bad_inputs():
    first, _, _ = make(orders=40)
    second, _, _ = make(orders=40)
    for kind in ("order", "invoice", "creditmemo", "shipment", "customer", "product", "company", "credit"):
        assert [first.document(kind, r.get("entity_id", r.get("id"))) for r in first.store.rows(kind)] == \
               [second.document(kind, r.get("entity_id", r.get("id"))) for r in second.store.rows(kind)]
    other = AdobeEmulator()
    with other.lock:
        seed_adobe(other.store, orders=40, seed=8)
    assert orders(other) != orders(first)
    fresh = AdobeEmulator()
    with fresh.lock:
        seeded = seed_adobe(fresh.store, orders=40, seed=7)
    assert set(seeded.bad.values()) == set(BAD_LABELS) and len(seeded.good_orders) == 40
    by_inc = {o["increment_id"]: o for o in orders(fresh)}
    bad = {label: by_inc[inc] for inc, label in seeded.bad.items()}
    assert "customer_email" not in bad["bad:no-customer-email"]
    assert bad["bad:non-numeric-amount"]["grand_total"] == "1O4.50"
    assert "\x0b" in bad["bad:forbidden-xml-char"]["customer_firstname"]
    assert bad["bad:unknown-store"]["store_id"] not in {s["store_id"] for s in seeded.stores.values()}
    assert bad["bad:unknown-sku"]["items"][0]["sku"] not in seeded.skus


def test_the_seeded_world_covers_what_the_flows_need():
    emu = AdobeEmulator()
    with emu.lock:
        seeded = seed_adobe(emu.store, orders=120, seed=7)
    everyone = {o["increment_id"]: o for o in orders(emu)}
    assert {s["website_id"] for s in seeded.stores.values()} == {1, 2}
    assert {everyone[i]["store_id"] for i in seeded.good_orders} == {1, 2, 3}
    assert seeded.po_orders and all(everyone[i]["payment"]["po_number"] == po and everyone[i]["payment"]["method"]
                                    in ("purchaseorder", "companycredit") for i, po in seeded.po_orders.items())
    assert {everyone[i]["state"] for i in seeded.good_orders} >= {"new", "processing", "complete", "canceled"}
    assert seeded.invoices and seeded.open_invoices and seeded.creditmemos and seeded.shipments
    paid = everyone[next(iter(seeded.invoices.values()))]
    assert paid["payment"]["amount_paid"] > 0
    assert any(o["items"][1:] and o["items"][1].get("parent_item_id") for o in everyone.values())  # configurable rows
    for credit in emu.store.rows("credit"):
        assert credit["available_limit"] == credit["credit_limit"] + credit["balance"]
    assert any(c["balance"] < 0 for c in emu.store.rows("credit"))  # purchases on account drew on credit
    assert any(c["custom_attributes"] for c in emu.store.rows("customer"))


# -- over real HTTP, through the console script ------------------------------------------------


def test_sandbox_serve_adobe_over_http_with_an_oauth1_signed_request():
    proc = subprocess.Popen([sys.executable, "-m", "ml_connector.cli", "sandbox", "serve", "--system", "adobe",
                             "--port", "0", "--documents", "10"], cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        info = json.loads(lines.get(timeout=30))
        assert info["system"] == "adobe" and info["base_url"].startswith("http://127.0.0.1:")
        creds = info["credentials"]
        assert set(creds["stores"]) == {"default", "wholesale_us", "wholesale_ca"}
        query = urlencode(criteria(page_size=100), quote_via=quote)
        url = f"{info['base_url']}/rest/default/V1/orders?{query}"
        client = Client(creds["consumer_key"], client_secret=creds["consumer_secret"],
                        resource_owner_key=creds["access_token"], resource_owner_secret=creds["access_token_secret"],
                        signature_method=SIGNATURE_HMAC_SHA256)
        uri, headers, _ = client.sign(url, http_method="GET")
        with httpx.Client(timeout=10, trust_env=False) as http:
            answer = http.get(uri, headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["total_count"] == 10 + len(BAD_LABELS)
            assert http.get(info["base_url"] + "/sandbox/adobe/webhook-public-key").text == creds["webhook_public_key"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


def test_regenerating_the_key_pair_invalidates_the_old_public_key():
    emu, _, _ = make(orders=3)
    old = emu.credentials()["webhook_public_key"]
    new = emu.signer.regenerate()
    body, headers = emu.webhook_delivery("order", 1)
    signature = headers["x-adobe-commerce-webhook-signature"]
    assert new != old and verify_rsa(body, signature, new) and not verify_rsa(body, signature, old)


def test_expire_tokens_kills_admin_and_ims_tokens_at_once(world):
    emu, http, _, auth = world
    ims = ims_token(http, emu).json()["access_token"]
    creds = emu.credentials()
    saas = {"Authorization": f"Bearer {ims}", "x-api-key": creds["ims_client_id"]}
    emu.expire_tokens()
    assert http.get("/rest/V1/orders", headers=auth, params=criteria()).status_code == 401
    assert http.get(f"/{creds['tenant_id']}/V1/orders", headers=saas, params=criteria()).status_code == 401
    fresh = {"Authorization": f"Bearer {admin_token(http, emu)}"}
    assert http.get("/rest/V1/orders", headers=fresh, params=criteria()).status_code == 200
