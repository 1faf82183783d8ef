"""QBO Fault bodies -> typed errors, from fixture files, wherever the Fault arrives."""

from __future__ import annotations

import pickle
from pathlib import Path

import httpx
import pytest

from ml_connector.connectors._http import RetryPolicy
from ml_connector.connectors.errors import (
    AuthError,
    NotFound,
    RateLimited,
    RejectedError,
    TransientError,
    classify,
    is_retryable,
)
from ml_connector.connectors.qbo import MemoryTokenStore, QboClient, QboConfig, StaleObject, TokenSet
from ml_connector.connectors.qbo.errors import check, fault_error, find_fault, loads

FIXTURES = Path(__file__).parents[2] / "fixtures" / "qbo"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def response(status: int, name: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=fixture(name),
                          headers={"Content-Type": "application/json;charset=UTF-8", "intuit_tid": "tid-1", **headers})


@pytest.mark.parametrize("status,name,operation,cls,code", [
    (400, "fault_5010_stale_object.json", "update", StaleObject, "5010"),
    (200, "fault_5010_stale_object.json", "update", StaleObject, "5010"),
    (401, "fault_401_lowercase.json", "read", AuthError, "3200"),
    (429, "fault_429_throttle.json", "query", RateLimited, "3001"),
    (400, "fault_6240_duplicate_name.json", "create", RejectedError, "6240"),
    (400, "fault_610_object_not_found.json", "read", NotFound, "610"),
    (400, "fault_610_object_not_found.json", "create", RejectedError, "610"),
    (200, "fault_in_200_business_validation.json", "create", RejectedError, "6000"),
    (200, "fault_system.json", "create", TransientError, "10000"),
])
def test_fault_bodies_map_to_the_error_tree(status, name, operation, cls, code):
    with pytest.raises(cls) as info:
        check(response(status, name), operation=operation)
    err = info.value
    assert type(err) is cls and err.code == code and err.status == status
    assert err.request_id == "tid-1" and err.system == "qbo" and err.operation == operation
    clone = pickle.loads(pickle.dumps(err))  # Prefect persists task states
    assert type(clone) is cls and clone.code == code and str(clone) == str(err)


def test_stale_object_is_a_rejection_with_its_own_classification():
    err = fault_error(find_fault(loads(fixture("fault_5010_stale_object.json"))), status=400)
    assert isinstance(err, RejectedError) and not is_retryable(err)
    assert classify(err) == "stale_object"
    assert str(err).startswith("Stale Object Error : You and API API")  # detail, not message twice


def test_throttle_waits_what_intuit_advises_unless_told_otherwise():
    with pytest.raises(RateLimited) as info:
        check(response(429, "fault_429_throttle.json"))
    assert info.value.retry_after == 60.0 and is_retryable(info.value)
    with pytest.raises(RateLimited) as info:
        check(response(429, "fault_429_throttle.json", **{"Retry-After": "3"}))
    assert info.value.retry_after == 3.0


def test_successes_and_non_fault_bodies_pass():
    check(response(200, "query_purchaseorder_page.json"))
    check(httpx.Response(200, content=b""))
    check(httpx.Response(400, text="<html>bad</html>"))  # left to the status table
    check(httpx.Response(503, content=fixture("fault_system.json")))  # 5xx: status table retries it


def test_a_fault_in_a_200_raises_through_the_client():
    cfg = QboConfig(realm_id="r-fault200", client_id="cid", client_secret="s3cret-fault200",
                    base_url="https://qbo.test", token_url="https://qbo.test/token")
    store = MemoryTokenStore(TokenSet.model_validate(
        {"refresh_token": "RT-x", "access_token": "AT-x", "access_expires_at": 4e9, "refreshed_at": 4e9 - 3600}))
    body = fixture("fault_in_200_business_validation.json")
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    client = QboClient(cfg, store, http=httpx.Client(transport=httpx.MockTransport(handler)),
                       policy=RetryPolicy(sleep=lambda s: None))
    with pytest.raises(RejectedError, match="You must select a vendor") as info:
        client.create("PurchaseOrder", {"DocNumber": "PO-1"}, request_id="rid-1")
    assert info.value.status == 200 and info.value.code == "6000" and len(calls) == 1  # not retried


def test_a_4xx_json_fault_is_classified_not_flattened_to_its_status():
    cfg = QboConfig(realm_id="r-stale", client_id="cid", client_secret="s3cret-stale",
                    base_url="https://qbo.test", token_url="https://qbo.test/token")
    store = MemoryTokenStore(TokenSet.model_validate(
        {"refresh_token": "RT-y", "access_token": "AT-y", "access_expires_at": 4e9, "refreshed_at": 4e9 - 3600}))
    transport = httpx.MockTransport(lambda r: response(400, "fault_5010_stale_object.json"))
    client = QboClient(cfg, store, http=httpx.Client(transport=transport), policy=RetryPolicy(sleep=lambda s: None))
    with pytest.raises(StaleObject):
        client.update("PurchaseOrder", {"Id": "257", "SyncToken": "1", "Memo": "x"})
