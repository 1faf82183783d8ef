"""Magento error bodies (un-interpolated templates) and status classification (reference §A.3)."""

from __future__ import annotations

import pickle

import httpx
import pytest
from adobe_fake import FakeMagento, client_for, error, fixture, no_sleep_policy

from ml_connector.connectors.adobe.errors import fill, render_message
from ml_connector.connectors.errors import AuthError, NotFound, RateLimited, RejectedError, TransientError


@pytest.mark.parametrize(("body", "line"), [
    ({"message": "Invalid product data: %1", "parameters": ["Invalid attribute set entity type"]},
     "Invalid product data: Invalid attribute set entity type"),
    ({"message": "%fieldName is a required field.", "parameters": {"fieldName": "searchCriteria"}},
     "searchCriteria is a required field."),
    ({"message": "The consumer isn't authorized to access %resources.",
      "parameters": {"resources": "Magento_Sales::actions_view"}},
     "The consumer isn't authorized to access Magento_Sales::actions_view."),
    ({"message": "%1 of %2 rows: %10", "parameters": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]},
     "a of b rows: j"),
    ({"message": "Value %1 for %field is\nnot valid", "parameters": ["x"]}, "Value x for %field is not valid"),
    ({"message": "Validation failed", "errors": [
        {"message": "\"%fieldName\" is required. Enter and try again.", "parameters": {"fieldName": "email"}},
        {"message": "Invalid value of \"%value\" provided for the %fieldName field.",
         "parameters": {"value": "x@", "fieldName": "email"}}]},
     'Validation failed; "email" is required. Enter and try again.; Invalid value of "x@" provided for the email field.'),
    ({"message": "Too Many Requests", "trace": None}, "Too Many Requests"),
    ({"message": "Ids %1", "parameters": [[1, 2, 3]]}, "Ids 1, 2, 3"),
])
def test_placeholders_are_filled_into_one_line(body, line):
    assert render_message(body) == line


def test_not_an_error_body():
    assert render_message(["x"]) is None and render_message({"items": []}) is None
    assert fill("100%", None) == "100%"


def respond(response: httpx.Response, calls: list | None = None):
    def handler(request):
        if calls is not None:
            calls.append(request)
        return response
    return handler


def test_400_is_rejected_with_the_filled_message():
    body = error(400, "Invalid product data: %1", ["Invalid attribute set entity type"])
    with client_for(respond(body)) as client, pytest.raises(RejectedError) as info:
        client.get_order(1)
    err = info.value
    assert str(err).startswith("Adobe Commerce: Invalid product data: Invalid attribute set entity type [adobe/get-orders]")
    assert err.status == 400 and pickle.loads(pickle.dumps(err)).message == err.message


def test_404_is_not_found():
    with client_for(FakeMagento()) as client, pytest.raises(NotFound, match="doesn't exist"):
        client.get_order(404)


def test_403_is_auth():
    body = error(403, "The consumer isn't authorized to access %resources.", {"resources": "Magento_Customer::manage"})
    with client_for(respond(body)) as client, pytest.raises(AuthError, match="Magento_Customer::manage"):
        client.get_customer(3)


def test_oauth_problem_text_body_is_auth():
    calls: list = []
    body = httpx.Response(401, text="oauth_problem=timestamp_refused&message=stale",
                          headers={"content-type": "application/json"})
    with client_for(respond(body, calls)) as client, pytest.raises(AuthError) as info:
        client.get_order(1)
    assert info.value.code == "timestamp_refused" and len(calls) == 1


def test_429_honours_retry_after_then_succeeds():
    calls, waits = [], []
    order = fixture("order_b2b_po.json")

    def handler(request):
        calls.append(request)
        if len(calls) < 3:
            return error(429, "Too Many Requests", None, **{"Retry-After": "2"})
        return httpx.Response(200, json=order)

    policy = no_sleep_policy(5)
    policy.sleep = waits.append
    with client_for(handler, policy=policy) as client:
        assert client.get_order(3).entity_id == 3
    assert len(calls) == 3 and len(waits) == 2 and all(2 <= w <= 2.5 for w in waits)


def test_429_exhausted_is_rate_limited():
    with client_for(respond(error(429, "Too Many Requests", None, **{"Retry-After": "9"})),
                    policy=no_sleep_policy(2)) as client, pytest.raises(RateLimited) as info:
        client.get_order(3)
    assert info.value.retry_after == 9


def test_5xx_is_retried_then_transient():
    calls: list = []
    with client_for(respond(error(500, "Internal Error. Details are available in Magento log file."), calls),
                    policy=no_sleep_policy(3)) as client, pytest.raises(TransientError):
        client.get_order(3)
    assert len(calls) == 3


def test_a_waf_html_page_in_a_200_is_transient():
    page = httpx.Response(200, text="<html>Checking your browser</html>", headers={"content-type": "text/html"})
    with client_for(respond(page)) as client, pytest.raises(TransientError, match="not JSON"):
        client.get_order(3)


def test_a_search_answer_without_items_list_is_transient():
    with client_for(respond(httpx.Response(200, json={"items": "nope"}))) as client, pytest.raises(TransientError):
        client.search("orders")
