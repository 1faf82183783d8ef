"""The I/O pool sizes itself from what requests cost, within its floor and ceiling, and keeps
the items' order and the caller's context (no timing is asserted: estimates are fed directly)."""

from __future__ import annotations

import contextvars
import threading

import pytest

from ml_connector.runtime.io_pool import FLOOR, IoPool, pool_for


def test_nothing_measured_starts_halfway_up():
    assert IoPool(lambda: 32, "t").workers(500) == 16
    assert IoPool(lambda: 1, "t").workers(500) == 1


def test_a_long_round_trip_grows_the_pool_to_its_ceiling():
    pool = IoPool(lambda: 32, "t")
    pool.record(wall=0.050, cpu=0.001)  # a WAN round trip: 50 ms waiting per 1 ms of work
    assert pool.workers(500) == 25
    pool.record(wall=0.300, cpu=0.001)  # slower still: capped by the setting
    assert pool.workers(500) == 32


def test_requests_that_mostly_compute_shrink_it_to_the_floor():
    pool = IoPool(lambda: 32, "t")
    pool.record(wall=0.004, cpu=0.001)  # loopback: the "wait" is the other threads
    assert pool.workers(500) == FLOOR


def test_estimates_are_smoothed_not_replaced():
    pool = IoPool(lambda: 64, "t")
    pool.record(wall=0.100, cpu=0.001)
    pool.record(wall=0.002, cpu=0.001)  # one fast request does not undo a hundred ms of history
    assert pool.workers(500) > FLOOR


def test_never_more_threads_than_items_or_than_the_ceiling_allows():
    pool = IoPool(lambda: 3, "t")
    pool.record(wall=1.0, cpu=0.001)
    assert pool.workers(500) == 3  # the ceiling wins over the floor too
    assert pool.workers(2) == 2


def test_map_keeps_order_context_and_records_each_call(monkeypatch):
    var = contextvars.ContextVar("var", default="unset")
    var.set("caller")
    ceiling = {"value": 8}
    pool = IoPool(lambda: ceiling["value"], "t")
    seen_threads = set()

    def work(x: int) -> tuple[int, str]:
        seen_threads.add(threading.current_thread().name)
        return x * x, var.get()

    out = pool.map(work, list(range(50)))
    assert out == [(x * x, "caller") for x in range(50)]
    assert pool._wall is not None and pool._cpu is not None  # every call was measured
    assert all(name.startswith("t") for name in seen_threads)
    ceiling["value"] = 1  # read on every call: one thread, the caller's
    seen_threads.clear()
    pool.map(work, list(range(5)))
    assert seen_threads == {threading.current_thread().name}


def test_an_error_in_one_item_reaches_the_caller():
    pool = IoPool(lambda: 4, "t")

    def work(x: int) -> int:
        if x == 3:
            raise RuntimeError("boom")
        return x

    with pytest.raises(RuntimeError, match="boom"):
        pool.map(work, list(range(10)))


def test_one_pool_per_system():
    assert pool_for("test-system", lambda: 4) is pool_for("test-system", lambda: 8)
    assert pool_for("test-system", lambda: 4) is not pool_for("test-other", lambda: 4)
