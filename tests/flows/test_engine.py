"""The engine's run loop on a small pipeline of its own: an in-memory source of numbered
documents and an in-memory target, over the demo tenant's real ledger and a real Prefect API.

What every integration relies on is checked once here: the cursor is stored only after a page
is durable, a failed page is read again (never skipped), a dead run's intents are settled
through ``find`` (found -> posted, never written twice; not found -> written once), the drain
posts what earlier runs left, a dry run writes nothing, and a backfill leaves the cursor alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from ml_connector import engine
from ml_connector.connectors.errors import TransientError
from ml_connector.engine import Batch, Page, Pipeline, Run
from ml_connector.engine.posting import WriteResult, post_documents
from ml_connector.ledger.schema import POSTED, RECEIVED
from ml_connector.ledger.store import Claimed, Incoming, Outcome
from ml_connector.runtime.tenant import tenant

NAME = "engine-probe"
PAGE = 3


class Source:
    """Documents ``0..n-1``; a page is ``PAGE`` of them after the cursor (the last number read)."""

    def __init__(self, n: int) -> None:
        self.numbers = list(range(n))
        self.reads: list[str | None] = []

    def read(self, run: Run, cursor: str | None) -> Iterator[Page]:
        self.reads.append(cursor)
        start = int(cursor) + 1 if cursor is not None else 0
        while start < len(self.numbers):
            chunk = self.numbers[start:start + PAGE]
            start += len(chunk)
            yield Page(chunk, cursor=str(chunk[-1]))


class Target:
    """Writes by idempotency key; ``fail_on`` makes the write of that document raise (a whole
    batch lost to an outage), once."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.by_key: dict[str, str] = {}
        self.fail_on: set[str] = set()
        self.lock = threading.Lock()

    def write(self, prepared) -> list[WriteResult]:
        with self.lock:
            for p in prepared:
                if p.payload in self.fail_on:
                    self.fail_on.discard(p.payload)
                    raise TransientError("target unavailable", system="probe", operation="write")
            out = []
            for p in prepared:
                self.writes.append(p.payload)
                self.by_key[p.claimed.idempotency_key] = f"T-{p.payload}"
                out.append(WriteResult(ok=True, target_id=f"T-{p.payload}"))
            return out


def make_pipeline(source: Source, target: Target, name: str = NAME) -> Pipeline:
    @task(cache_policy=NO_CACHE)
    def post(tenant_name: str, ids: list[int], run_id: str, payloads: dict | None = None) -> dict:
        return post_documents(tenant(tenant_name).ledger, name, ids, run_id, build=lambda c: c.natural_key,
                              write=target.write, batch_size=2)

    def to_rows(run: Run, page: Page) -> Batch:
        return Batch(rows=[Incoming("probe", "P1", f"D{n}", f"probe/{n}", str(n).encode()) for n in page.items])

    def find(run: Run, stale: list[Claimed], left: dict) -> list[Outcome]:
        return [Outcome(c.id, POSTED, target_id=target.by_key[c.idempotency_key]) if c.idempotency_key in target.by_key
                else Outcome(c.id, RECEIVED, error_class="recovered", error="not found in the probe target")
                for c in stale]

    return Pipeline(name=name, read=source.read, to_rows=to_rows, post=post, find=find)


def run_once(pipeline: Pipeline, **params):
    @flow(name="engine-probe")
    def probe():
        return engine.run(pipeline, "demo", **params)

    return probe(return_state=True)


def test_every_document_is_posted_once_and_the_cursor_follows_the_pages(world):
    source, target = Source(8), Target()
    pipeline = make_pipeline(source, target)
    state = run_once(pipeline)
    assert state.is_completed()
    assert sorted(target.writes) == [f"D{n}" for n in range(8)]
    assert world.ledger.get_cursor(NAME) == "7"
    assert state.result()["posted"] == 8

    source.numbers += [8, 9]
    assert run_once(pipeline).is_completed()
    assert source.reads == [None, "7"]
    assert sorted(target.writes) == [f"D{n}" for n in range(10)]


def test_a_page_that_fails_is_read_again_and_nothing_is_skipped(world):
    source, target = Source(9), Target()
    target.fail_on = {"D4"}  # the second page's write fails: the run fails after page one
    pipeline = make_pipeline(source, target)
    state = run_once(pipeline)
    assert not state.is_completed()
    assert world.ledger.get_cursor(NAME) == "2"  # page one is durable; page two is not past

    assert run_once(pipeline).is_completed()
    assert source.reads == [None, "2"]
    assert sorted(target.writes) == [f"D{n}" for n in range(9)]
    assert len(target.writes) == len(set(target.writes))


def test_a_dead_runs_intents_are_settled_through_find_without_a_second_write(world):
    source, target = Source(4), Target()
    pipeline = make_pipeline(source, target)
    ledger = world.ledger
    ledger.ingest(NAME, [Incoming("probe", "P1", f"D{n}", f"probe/{n}", b"x") for n in range(4)], "dead-run")
    claimed = ledger.claim(NAME, ledger.pending_ids(NAME), "dead-run")
    # the dead run's writes of D0 and D1 reached the target; its outcomes were never recorded
    for c in claimed[:2]:
        target.by_key[c.idempotency_key] = f"T-{c.natural_key}"

    state = run_once(pipeline)
    assert state.is_completed()
    figures = state.result()
    assert (figures["recovered_posted"], figures["recovered_requeued"]) == (2, 2)
    assert sorted(target.writes) == ["D2", "D3"]  # D0 and D1 are not written again
    assert {d.status for d in ledger.documents(NAME)} == {POSTED}


def test_the_drain_posts_what_an_earlier_run_left_received(world):
    source, target = Source(0), Target()
    pipeline = make_pipeline(source, target)
    world.ledger.ingest(NAME, [Incoming("probe", "P1", "D-left", "probe/left", b"x")], "earlier-run")
    assert run_once(pipeline).is_completed()
    assert target.writes == ["D-left"]


def test_a_dry_run_writes_nothing_and_says_what_a_run_would_do(world):
    source, target = Source(5), Target()
    pipeline = make_pipeline(source, target)
    tally = run_once(pipeline, dry_run=True).result()
    assert tally == {"read": 5, "would_post": 5, "would_skip": 0, "would_quarantine": 0}
    assert target.writes == []
    assert world.ledger.documents(NAME) == []
    assert world.ledger.get_cursor(NAME) is None


@pytest.mark.parametrize("window", [{"since": "2000-01-01"}, {"until": "2100-01-01"}])
def test_a_backfill_reads_from_the_start_and_leaves_the_live_cursor_alone(world, window):
    source, target = Source(4), Target()
    pipeline = make_pipeline(source, target)
    world.ledger.set_cursor(NAME, "1")
    assert run_once(pipeline, **window).is_completed()
    assert source.reads == [None]
    assert sorted(target.writes) == ["D0", "D1", "D2", "D3"]
    assert world.ledger.get_cursor(NAME) == "1"


def test_before_steps_and_an_inbox_run_ahead_of_the_page_loop_and_each_delivery_is_acted_on_once(world):
    """A webhook inbox is a second source: the documents its deliveries name are recorded and
    posted before the listing, and a document both name is written once. ``before`` steps run
    first and add their figures to the report."""
    from dataclasses import replace

    from ml_connector.engine.pipeline import InboxSource
    from ml_connector.inbox import Inbox, store

    source, target = Source(3), Target()
    inbox = Inbox(consumer=NAME, box=f"{NAME}:webhook", event="engine-probe.notification")
    order: list[str] = []

    def named(run: Run, claimed: list[Claimed]) -> Iterator[Page]:
        order.append("inbox")
        yield Page(sorted(int(c.raw_payload) for c in claimed))

    def read(run: Run, cursor: str | None) -> Iterator[Page]:
        order.append("pages")
        yield from source.read(run, cursor)

    def before(run: Run) -> dict:
        order.append("before")
        return {"probe_before": 1}

    base = make_pipeline(source, target)
    pipeline = replace(base, read=read, before=(before,), inbox=InboxSource(inbox, named))
    ledger = world.ledger
    store(ledger, [inbox], [Incoming("notification", "P1", f"e{n}", "hook", str(n).encode()) for n in (1, 7)])

    state = run_once(pipeline)
    assert state.is_completed()
    figures = state.result()
    assert order == ["before", "inbox", "pages"]
    assert (figures["probe_before"], figures["webhook_notifications"]) == (1, 2)
    assert target.writes[:2] == ["D1", "D7"]  # the named documents went first
    assert sorted(target.writes) == ["D0", "D1", "D2", "D7"]  # D1, named and listed, once
    assert ledger.status_counts(inbox.box) == {POSTED: 2}

    again = run_once(pipeline).result()
    assert again["webhook_notifications"] == 0 and len(target.writes) == 4


class Listings:
    """Two listings ("a", "b") of numbered documents, each resuming from a cursor of its own."""

    def __init__(self, n: int) -> None:
        self.numbers = list(range(n))
        self.starts: list[tuple[str, str | None]] = []

    def read(self, run: Run, cursor: str | None) -> Iterator[Page]:
        for name in ("a", "b"):
            stored = run.stored_cursor(name)
            self.starts.append((name, stored))
            todo = [n for n in self.numbers if stored is None or n > int(stored)]
            for start in range(0, len(todo), PAGE):
                yield Page([f"{name}{n}" for n in todo[start:start + PAGE]], store_cursor=False)
            yield Page([], cursor=str(todo[-1]) if todo else None, store_cursor=bool(todo), cursor_name=name)


def test_a_source_of_several_listings_stores_each_cursor_under_its_own_name(world):
    from dataclasses import replace

    listings, target = Listings(4), Target()
    pipeline = replace(make_pipeline(Source(0), target), read=listings.read,
                       to_rows=lambda run, page: Batch(rows=[Incoming("probe", "P1", f"D{k}", f"probe/{k}", k.encode())
                                                             for k in page.items]))
    assert run_once(pipeline).is_completed()
    assert (world.ledger.get_cursor(NAME, "a"), world.ledger.get_cursor(NAME, "b")) == ("3", "3")
    assert world.ledger.get_cursor(NAME) is None  # the pipeline's own cursor is not used
    listings.numbers.append(4)
    assert run_once(pipeline).is_completed()
    assert listings.starts[2:] == [("a", "3"), ("b", "3")]
    assert sorted(target.writes) == sorted(f"D{k}{n}" for k in "ab" for n in range(5))
    assert run_once(pipeline, since="2000-01-01").is_completed()  # a backfill reads from the start
    assert listings.starts[4:] == [("a", None), ("b", None)]
    assert (world.ledger.get_cursor(NAME, "a"), world.ledger.get_cursor(NAME, "b")) == ("4", "4")


def test_a_settle_steps_counters_join_the_report_and_a_zero_counter_stays(world):
    from dataclasses import replace

    settled: list[list[str]] = []

    @task(cache_policy=NO_CACHE)
    def settle(tenant_name: str, items: list[str]) -> dict:
        settled.append(items)
        return {"left_unsettled": 1 if "D4" in items else 0}

    source, target = Source(6), Target()
    base = make_pipeline(source, target)

    def to_rows(run: Run, page: Page) -> Batch:
        batch = base.to_rows(run, page)
        return Batch(rows=batch.rows, settle=[r.natural_key for r in batch.rows], counters={"deferred": 0})

    figures = run_once(replace(base, to_rows=to_rows, settle=settle)).result()
    assert settled == [["D0", "D1", "D2"], ["D3", "D4", "D5"]]
    assert figures["left_unsettled"] == 1 and figures["deferred"] == 0


def test_a_run_without_poll_takes_only_the_inbox_and_leaves_the_listing_and_its_cursor_alone(world):
    """``poll=False`` is the run a webhook trigger starts: what the deliveries name is recorded
    and posted, the listing is not read and its cursor does not move; a backfill reads anyway."""
    from dataclasses import replace

    from ml_connector.engine.pipeline import InboxSource
    from ml_connector.inbox import Inbox, store

    source, target = Source(4), Target()
    inbox = Inbox(consumer=NAME, box=f"{NAME}:webhook", event="engine-probe.notification")

    def named(run: Run, claimed: list[Claimed]) -> Iterator[Page]:
        yield Page([int(c.raw_payload) for c in claimed], store_cursor=False)

    pipeline = replace(make_pipeline(source, target), inbox=InboxSource(inbox, named))
    store(world.ledger, [inbox], [Incoming("notification", "P1", "e2", "hook", b"2")])

    figures = run_once(pipeline, poll=False).result()
    assert figures["webhook_notifications"] == 1 and target.writes == ["D2"]
    assert source.reads == [] and world.ledger.get_cursor(NAME) is None

    assert run_once(pipeline, poll=False, since="2000-01-01").is_completed()  # a backfill reads its window
    assert source.reads == [None] and sorted(target.writes) == ["D0", "D1", "D2", "D3"]
    assert world.ledger.get_cursor(NAME) is None


def test_a_pipelines_own_drain_posts_what_is_left_and_its_figures_join_the_report(world):
    from dataclasses import replace

    source, target = Source(5), Target()
    base = make_pipeline(source, target)
    drained: list[list[int]] = []

    def drain(run: Run) -> dict:
        ids = run.ledger.pending_ids(NAME)
        drained.append(ids)
        if ids:
            run.posted.append(base.post(run.tenant, ids, run.run_id))
        return {"still_waiting": len(run.ledger.pending_ids(NAME))}

    target.fail_on = {"D4"}  # the last page's write fails once: the document is left received
    assert not run_once(replace(base, drain=drain)).is_completed()
    assert drained == []  # the failed page ended the run before the drain
    state = run_once(replace(base, drain=drain))
    assert state.is_completed()
    assert len(drained) == 1 and len(drained[0]) >= 1  # what the failed run left, posted by the drain
    assert state.result()["still_waiting"] == 0
    assert sorted(target.writes) == [f"D{n}" for n in range(5)]


def test_a_pipeline_posting_after_every_page_is_read_records_pages_and_cursor_first(world):
    """``post_per_page=False`` (order to cash: a payment posts after the AR invoice of an order
    that may be on a later page): each page is recorded and its cursor stored as it is read,
    nothing is written before the last page, and the drain posts everything. A run that dies
    while reading leaves its pages received behind the stored cursor; the next run posts them."""
    from dataclasses import replace

    source, target = Source(7), Target()
    writes_when_read: list[int] = []
    dies_on_page: list[int] = [2]

    def read(run: Run, cursor: str | None) -> Iterator[Page]:
        for n, page in enumerate(source.read(run, cursor)):
            if n in dies_on_page:
                raise RuntimeError("the worker died while reading")
            writes_when_read.append(len(target.writes))
            yield page

    pipeline = replace(make_pipeline(source, target), read=read, post_per_page=False)
    assert not run_once(pipeline).is_completed()
    assert target.writes == [] and world.ledger.get_cursor(NAME) == "5"
    assert len(world.ledger.pending_ids(NAME)) == 6

    dies_on_page.clear()
    assert run_once(pipeline).is_completed()
    assert source.reads == [None, "5"] and world.ledger.get_cursor(NAME) == "6"
    assert set(writes_when_read) == {0}  # no page was read after a write
    assert sorted(target.writes) == [f"D{n}" for n in range(7)]


def test_a_follow_up_pipeline_runs_as_a_step_with_its_own_recovery_pages_and_drain(world):
    """A follow-up kept in a ledger integration of its own (write-backs) runs inside the run
    through ``run_step``: its dead run's intents are settled through its ``find`` (found -> not
    written again), its pages are posted and its cursor stored under its own name, and its
    figures come back for the run's report."""
    from dataclasses import replace

    from ml_connector.engine import run_step

    child_name = f"{NAME}-followups"
    child_source, child_target = Source(3), Target()
    child = make_pipeline(child_source, child_target, name=child_name)
    ledger = world.ledger
    ledger.ingest(child_name, [Incoming("probe", "P1", f"D{n}", f"probe/{n}", b"x") for n in (7, 8)], "dead-run")
    found, lost = ledger.claim(child_name, ledger.pending_ids(child_name), "dead-run")
    child_target.by_key[found.idempotency_key] = "T-D7"  # the dead run's write of D7 landed

    def follow_up(run: Run) -> dict:
        return {f"child_{k}": v for k, v in run_step(child, run).items()}

    parent_source, parent_target = Source(2), Target()
    state = run_once(replace(make_pipeline(parent_source, parent_target), followups=(follow_up,)))
    assert state.is_completed()
    figures = state.result()
    assert (figures["child_recovered_posted"], figures["child_recovered_requeued"]) == (1, 1)
    assert figures["child_posted"] == 4  # D0-D2 from its page, D8 by its drain
    assert sorted(child_target.writes) == ["D0", "D1", "D2", "D8"] and parent_target.writes == ["D0", "D1"]
    assert ledger.get_cursor(child_name) == "2" and ledger.get_cursor(NAME) == "1"
    assert {d.status for d in ledger.documents(child_name)} == {POSTED} and lost.natural_key == "D8"
