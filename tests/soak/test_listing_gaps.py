"""The readMore continuity guard (connectors/intacct/listing.py) on its own, and on reconcile's
``iter_ar_invoices`` against the Intacct emulator: a resent readMore is noticed, never silent."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import httpx
import pytest

from ml_connector.connectors._http import RetryPolicy
from ml_connector.connectors.errors import TransientError
from ml_connector.connectors.intacct.auth import IntacctConfig, SessionCache
from ml_connector.connectors.intacct.client import IntacctClient
from ml_connector.connectors.intacct.listing import Continuity, ListingGap, read_listing
from ml_connector.sandbox.intacct import IntacctEmulator
from tests.soak.outages import LostReadMoreAnswer


@dataclass
class FakePage:
    rows: list[int]
    result_id: str | None
    num_remaining: int


class ScriptedListing:
    """``read`` for read_listing over ``total`` rows in pages of ``size``; the readMores whose
    number is in ``skip`` jump one page ahead (what a resent readMore does)."""

    def __init__(self, total: int, size: int, skip=()) -> None:
        self.total, self.size, self.skip = total, size, set(skip)
        self.position, self.queries, self.read_mores = 0, 0, 0

    def __call__(self, result_id: str | None) -> FakePage:
        if result_id is None:
            self.queries, self.position = self.queries + 1, 0
        else:
            self.read_mores += 1
            if self.read_mores in self.skip:
                self.position = min(self.position + self.size, self.total)
        rows = list(range(self.position, min(self.position + self.size, self.total)))
        self.position += len(rows)
        remaining = self.total - self.position
        return FakePage(rows, f"q{self.queries}" if remaining else None, remaining)


def test_continuity_accepts_a_following_page_and_names_every_kind_of_gap():
    guard = Continuity()
    assert guard.gap(10, 30, "r") is None and guard.gap(10, 20, "r") is None
    assert "10 rows were skipped" in guard.gap(10, 0, None)  # a page went missing
    assert guard.gap(10, 10, "r") is None  # the rejected page left the guard where it was
    assert "stalled" in Continuity().gap(0, 5, "r")
    assert "no resultId" in Continuity().gap(3, 5, None)
    looping = Continuity()
    assert looping.gap(10, 20, "r") is None
    assert looping.gap(10, 20, "r") is not None  # the same page again
    assert Continuity().gap(0, 0, None) is None  # an empty listing is complete


def test_read_listing_yields_a_whole_listing_and_restarts_on_a_gap():
    clean = ScriptedListing(25, 10)
    assert [p.rows for p in read_listing(clean, lambda p: len(p.rows), what="clean")] == [
        list(range(0, 10)), list(range(10, 20)), list(range(20, 25))]
    assert clean.queries == 1
    skipping = ScriptedListing(45, 10, skip={2})  # the 2nd readMore of the first listing only
    seen = [row for page in read_listing(skipping, lambda p: len(p.rows), what="skipping") for row in page.rows]
    assert skipping.queries == 2
    assert set(seen) == set(range(45)) and seen[-45:] == list(range(45))  # the 2nd listing is whole


def test_read_listing_gives_up_with_a_transient_error_after_its_restarts():
    always = ScriptedListing(60, 10, skip=range(1, 100, 2))
    with pytest.raises(ListingGap, match="without a gap in 3 attempt") as raised:
        list(read_listing(always, lambda p: len(p.rows), what="always", restarts=2))
    assert always.queries == 3
    assert isinstance(raised.value, TransientError) and raised.value.code == "listing-gap"
    again = pickle.loads(pickle.dumps(raised.value))  # Prefect persists failed states
    assert isinstance(again, ListingGap) and str(again) == str(raised.value)
    with pytest.raises(TransientError, match="exceeded 2 pages"):
        list(read_listing(ScriptedListing(60, 10), lambda p: len(p.rows), what="long", max_pages=2))


def wired_client(emulator: IntacctEmulator) -> IntacctClient:
    return IntacctClient(IntacctConfig(**emulator.credentials()), http=httpx.Client(transport=emulator.transport()),
                         policy=RetryPolicy(attempts=5, sleep=lambda _: None), sessions=SessionCache())


def test_reconcile_listing_raises_on_a_lost_readmore_answer_instead_of_missing_a_page(monkeypatch):
    emulator = IntacctEmulator()
    emulator.add_customer("C-0001", "Acme Retail")
    start = datetime(2024, 5, 1, 8, 0, 0)
    for n in range(50):
        emulator.add_ar_invoice(f"AR-{n:05d}", "C-0001", [{"amount": "10.00", "item_id": "W-1"}], date(2024, 5, 1),
                                when_modified=start + timedelta(seconds=n))
    client = wired_client(emulator)
    assert sum(len(p) for p in client.iter_ar_invoices(datetime(2024, 5, 1), page_size=10, include_lines=False)) == 50
    lost = LostReadMoreAnswer(emulator, lose={2})
    monkeypatch.setattr(emulator, "dispatch", lost)
    with pytest.raises(ListingGap, match="10 rows were skipped"):
        list(client.iter_ar_invoices(datetime(2024, 5, 1), page_size=10, include_lines=False))
    assert lost.lost == 1
