"""A backfill fanned out over time partitions on a local Dask cluster: every invoice of the
window sent exactly once, nothing outside it, the live cursor untouched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ml_connector.flows.backfill import backfill_intacct_to_sps, partitions
from ml_connector.ledger.schema import QUARANTINED
from tests.soak.outages import LostReadMoreAnswer

OUT = "intacct-sps"


def assert_unmapped_quarantined(world, state, unmapped: set[str]) -> None:
    """The run is Failed only because the seeded invoices of an unmapped customer are
    quarantined (a person must map the customer), and its message says so with their count."""
    quarantined = world.ledger.documents(OUT, status=QUARANTINED)
    assert {r.natural_key for r in quarantined} == unmapped
    assert state.is_failed() and state.message.startswith(f"{len(unmapped)} of "), state
    assert "documents quarantined: " in state.message and "failed" not in state.message
    assert "is not mapped to a trading partner" in state.message
    counts = state.result(raise_on_failure=False)
    assert counts[QUARANTINED] == len(unmapped) and counts["failed"] == 0


def test_partitions_cover_the_window_without_overlap():
    a, b = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 5, tzinfo=UTC)
    parts = partitions(a, b, 3)
    assert parts[0][0] == a and parts[-1][1] == b
    assert all(parts[n][1] == parts[n + 1][0] for n in range(len(parts) - 1))
    with pytest.raises(ValueError):
        partitions(b, a, 2)


def test_dask_backfill_sends_each_invoice_in_the_window_once(world):
    world.add_ar_invoices(200)  # seeded every 7 minutes from 2026-10-01 00:00 UTC
    world.ledger.set_cursor(OUT, "2026-11-01T00:00:00+00:00", "whenmodified")
    since = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    until = datetime(2026, 10, 1, 20, 0, tzinfo=UTC)
    state = backfill_intacct_to_sps(tenant="demo", since=since, until=until, partition_count=4, return_state=True)
    counts = state.result(raise_on_failure=False)
    assert counts["partitions"] == 4
    seeded_at = datetime(2026, 10, 1, tzinfo=UTC)
    in_window = [n for n in range(200) if since <= seeded_at + timedelta(minutes=7 * n) < until]
    sent = {p for p in world.sps.inbox() if p.startswith("in/IN_")}
    unmapped = sum(1 for n in in_window if n % 50 == 49)
    assert unmapped and len(sent) == len(in_window) - unmapped
    # the invoices of the customer without a trading partner need a person: the run says so
    assert_unmapped_quarantined(world, state, {f"AR-{10000 + n}" for n in in_window if n % 50 == 49})
    assert counts["read_by_partitions"] == len(in_window)
    assert world.ledger.get_cursor(OUT, "whenmodified") == "2026-11-01T00:00:00+00:00"


def test_a_lost_readmore_answer_restarts_the_partition_and_loses_nothing(world, monkeypatch):
    """An answered readMore whose response is lost is resent by the HTTP layer and gets the
    page after the lost one; the partition notices the gap and reads its listing again."""
    world.add_ar_invoices(120)
    lost = LostReadMoreAnswer(world.intacct, lose={2})
    monkeypatch.setattr(world.intacct, "dispatch", lost)
    since = datetime(2026, 10, 1, tzinfo=UTC)
    until = datetime(2026, 10, 2, tzinfo=UTC)  # 120 invoices every 7 minutes: all in the window
    state = backfill_intacct_to_sps(tenant="demo", since=since, until=until, partition_count=2, page_size=10,
                                    return_state=True)
    assert_unmapped_quarantined(world, state, world.seeded.unmapped_invoices)
    assert lost.lost == 1  # one partition's listing lost a page on the way
    sent = {p for p in world.sps.inbox() if p.startswith("in/IN_")}
    assert len(sent) == len(world.seeded.expected_invoices)
    assert len(world.ledger.documents(OUT)) == 120
    assert state.result(raise_on_failure=False)["read_by_partitions"] == 120  # counted once, though re-read
