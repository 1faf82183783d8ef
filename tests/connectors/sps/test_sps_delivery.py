"""SpsClient.put never sends an upload twice when the first may have arrived, and
delivery.find tells arrived, never arrived and cannot-tell-yet apart, against the emulator."""

from __future__ import annotations

import pickle
import time
from datetime import timedelta

import httpx
import pytest

from ml_connector.connectors._http import RetryPolicy
from ml_connector.connectors.sps import delivery
from ml_connector.connectors.sps.auth import SpsConfig
from ml_connector.connectors.sps.client import SpsClient
from ml_connector.connectors.sps.delivery import Attempt, DeliveryUnknown, Verdict
from ml_connector.sandbox.base import FaultPlan
from ml_connector.sandbox.sps import SpsEmulator


class LoseFirstWrite(FaultPlan):
    """The first write commits and its answer is lost."""

    def __init__(self) -> None:
        super().__init__()
        self.left = 1

    def lose_response(self) -> bool:
        self.left -= 1
        return self.left == 0


def transport(emu: SpsEmulator, *, before: list | None = None) -> httpx.BaseTransport:
    """The emulator, with the next uploads failing as ``before`` says ('timeout': no answer and
    nothing stored; an int: that status and nothing stored) before SPS sees them."""
    inner, queue = emu.transport(), list(before or [])

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and "/data/" in request.url.path and queue:
            kind = queue.pop(0)
            if kind == "timeout":
                raise httpx.ReadTimeout("no answer", request=request)
            return httpx.Response(kind, json={"title": "Service Unavailable", "status": kind},
                                  headers={"Content-Type": "application/problem+json"})
        return inner.handle_request(request)

    return httpx.MockTransport(handle)


def connect(emu: SpsEmulator, *, before: list | None = None, **settings) -> tuple[SpsClient, list[float]]:
    creds = emu.credentials()
    cfg = SpsConfig(client_id=creds["client_id"], client_secret=creds["client_secret"],
                    base_url=creds["base_url"], token_url=creds["token_url"], audience=creds["audience"])
    sleeps: list[float] = []
    client = SpsClient(cfg, http=httpx.Client(transport=transport(emu, before=before)),
                       policy=RetryPolicy(sleep=sleeps.append), **settings)
    return client, sleeps


def test_a_lost_answer_with_the_pickup_in_between_is_one_delivery():
    emu = SpsEmulator(faults=LoseFirstWrite(), pickup_after=0)  # SPS takes it before we ask again
    client, sleeps = connect(emu)
    assert client.put("in/IN1.xml", b"<x/>") == "in/IN1.xml"
    assert [d.path for d in emu.deliveries()] == ["in/IN1.xml"] and emu.delivered_twice() == {}
    assert sleeps == []  # found in the history at once: no second upload, no wait


def test_a_refused_or_unanswered_connection_and_503_are_sent_again_blindly():
    emu = SpsEmulator(pickup_after=0)
    client, sleeps = connect(emu, before=[503, 429])
    assert client.put("in/IN1.xml", b"<x/>") == "in/IN1.xml"
    assert len(emu.deliveries()) == 1 and len(sleeps) == 2


def test_no_answer_and_nothing_to_see_yet_is_delivery_unknown_and_nothing_is_sent():
    emu = SpsEmulator(pickup_after=0)
    client, sleeps = connect(emu, before=["timeout"], history_lag=300)
    with pytest.raises(DeliveryUnknown) as info:
        client.put("in/IN1.xml", b"<x/>")
    err = info.value
    assert emu.deliveries() == [] and sleeps == []
    assert err.classification == "delivery_unknown" and "delivery unknown until SPS history catches up" in str(err)
    assert delivery.attempt_from_reason("in/IN1.xml", str(err)) == err.attempt
    assert pickle.loads(pickle.dumps(err)).attempt == err.attempt


def test_no_answer_sooner_than_any_pickup_proves_it_never_arrived():
    emu = SpsEmulator(pickup_after=120)
    client, sleeps = connect(emu, before=["timeout"], history_lag=300, pickup_min=60)
    assert client.put("in/IN1.xml", b"<x/>") == "in/IN1.xml"
    assert emu.inbox() == {"in/IN1.xml": b"<x/>"} and len(emu.history()) == 1 and len(sleeps) == 1


def test_a_complete_history_without_the_upload_proves_it_never_arrived():
    emu = SpsEmulator(pickup_after=0)
    client, sleeps = connect(emu, before=["timeout"], history_lag=0)
    assert client.put("in/IN1.xml", b"<x/>") == "in/IN1.xml"
    assert len(emu.deliveries()) == 1 and len(sleeps) == 1


def test_an_earlier_version_still_in_in_is_replaced_when_the_new_one_did_not_arrive():
    emu = SpsEmulator()
    seed, _ = connect(emu)
    seed.put("in/IN1.xml", b"<v1/>")  # not taken by SPS yet
    client, _ = connect(emu, before=["timeout"], history_lag=300)
    assert client.put("in/IN1.xml", b"<v2/>") == "in/IN1.xml"
    assert emu.inbox() == {"in/IN1.xml": b"<v2/>"} and len(emu.history()) == 2


def test_find_tells_present_delivered_absent_and_unknown_apart_in_one_pass():
    emu = SpsEmulator(pickup_after=None)
    client, _ = connect(emu)
    now = delivery.utcnow()
    client.put("in/HERE.xml", b"x")  # still in in/
    emu.pickup_after = 0
    client.put("in/TAKEN.xml", b"x")  # taken by SPS: only the history knows
    emu.pick_up()
    old = Attempt("in/OLD.xml", now - timedelta(hours=1), now - timedelta(minutes=50))
    fresh = Attempt("in/FRESH.xml", now, now)
    attempts = [Attempt("in/HERE.xml", now, now), Attempt("in/TAKEN.xml", now, now), old, fresh]
    assert delivery.find(client, attempts, lag=300, pickup=0) == {
        "in/HERE.xml": Verdict.PRESENT, "in/TAKEN.xml": Verdict.DELIVERED,
        "in/OLD.xml": Verdict.ABSENT, "in/FRESH.xml": Verdict.UNKNOWN}


def test_an_upload_before_the_attempt_is_not_taken_for_it():
    emu = SpsEmulator(pickup_after=0, wall=lambda: time.time() - 600)
    client, _ = connect(emu)
    client.put("in/IN1.xml", b"x")  # an earlier revision, passed on ten minutes ago
    now = delivery.utcnow()
    assert delivery.find(client, [Attempt("in/IN1.xml", now, now)], lag=300) == {"in/IN1.xml": Verdict.UNKNOWN}


def test_a_history_that_cannot_be_read_says_so():
    emu = SpsEmulator(pickup_after=0)
    client, _ = connect(emu)
    inner = emu.dispatch

    def no_history(request):
        if request.url.path.endswith("/history"):
            return httpx.Response(403, json={"title": "Forbidden", "status": 403},
                                  headers={"Content-Type": "application/problem+json"})
        return inner(request)

    emu.dispatch = no_history
    now = delivery.utcnow()
    assert delivery.find(client, [Attempt("in/IN1.xml", now, now)]) == {"in/IN1.xml": Verdict.UNREADABLE}
