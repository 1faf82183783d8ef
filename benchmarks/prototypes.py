"""Prototypes of the optimizations proposed for issue 9, measured against the product as it is.

Nothing here changes ``ml_connector``: each variant is a copy of the inbound flow (or of the raw
pipeline) with one change, run on the same harness and data as ``run.py`` (emulators in their
own process, over HTTP), in a rotating order per repeat, medians quoted. Variants:

  product            the flow as shipped (``sps_to_intacct``)
  product+quote      the same flow, with the page, the bills and the path lists passed to tasks
                     as ``quote(...)``: Prefect stops walking them (``visit_collection``) twice
                     per task run, once to find upstream task runs, once to resolve futures
  product+io         quote, plus bounded concurrent I/O: downloads and deletes on a pool of
                     ``--workers`` threads, and the next page fetched (``.submit``) while the
                     current one is recorded, posted and consumed
  product+io+bulk    product+io, with ``Ledger.record_outcomes`` as two executemany UPDATEs
                     instead of one UPDATE per document (monkeypatched in this process only)
  raw, raw+io, raw+io+bulk
                     the raw pipeline (``bench.raw_pipelines.raw_sps_to_intacct``) and the same changes
  outbound, outbound+quote, outbound-raw
                     Intacct -> SPS: the flow as shipped, with the AR invoice page and id
                     lists quoted, and the raw pipeline (``bench.raw_pipelines.raw_intacct_to_sps``)

Every variant sends exactly the same HTTP requests as the product (asserted).

Since issue 9 the product itself has what these variants tried: ``opaque`` page, bill and path
arguments (the successor of ``quote``), no cache key per task, downloads and deletes on a pool
of 8 threads with the next page fetched while the current one is posted, and
``record_outcomes`` as executemany UPDATEs. The variants are kept as the record of the
experiment; on today's product they measure the same changes applied twice.

    python benchmarks/prototypes.py --documents 2000 --repeat 3
    python benchmarks/prototypes.py --documents 300 --naive --latency-ms 20
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKERS = {"value": 8}


if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench import TENANT  # noqa: E402
from bench.emulator_host import EmulatorHost  # noqa: E402
from bench.naive import naive_flow  # noqa: E402
from bench.raw_pipelines import raw_intacct_to_sps, raw_report, raw_sps_to_intacct  # noqa: E402
from bench.suite import progress  # noqa: E402
from bench.world import finish, fresh_world  # noqa: E402

# -- concurrent I/O: the task bodies with a bounded thread pool --------------------------------


def fetch_page_io(tenant: str, cursor: str | None, limit: int = 500):
    """``tasks/sps.py::fetch_page`` with the downloads on a bounded pool (same requests, same
    result order, same per-file isolation of failures)."""
    from ml_connector.connectors.errors import NotFound, TransientError
    from ml_connector.runtime.tenant import tenant as tenant_resources
    from ml_connector.tasks.sps import INBOX, FetchedFile, FetchedPage

    sps = tenant_resources(tenant).sps()
    page = sps.list_page(INBOX, cursor=cursor, limit=limit)

    def one(path: str):
        try:
            return path, sps.get(path), None
        except TransientError as exc:
            return path, None, exc
        except NotFound:
            return path, None, None

    files, deferred = [], []
    with ThreadPoolExecutor(WORKERS["value"]) as pool:
        for path, content, error in pool.map(one, page.files):
            if content is not None:
                files.append(FetchedFile(path=path, content=content))
            elif error is not None:
                deferred.append(path)
    return FetchedPage(cursor=cursor, next_cursor=page.next_cursor, files=files, deferred=deferred)


def consume_files_io(tenant: str, paths: list[str]) -> int:
    """``tasks/sps.py::consume_files`` with the deletes on a bounded pool."""
    from ml_connector.connectors.errors import NotFound, TransientError
    from ml_connector.runtime.tenant import tenant as tenant_resources

    sps = tenant_resources(tenant).sps()

    def one(path: str) -> int:
        try:
            sps.delete(path)
            return 1
        except (NotFound, TransientError):
            return 0

    with ThreadPoolExecutor(WORKERS["value"]) as pool:
        return sum(pool.map(one, paths))


# -- bulk outcome writes -------------------------------------------------------------------------


def record_outcomes_bulk(self, integration, outcomes, run_id):
    """``Ledger.record_outcomes`` as two executemany UPDATEs (posted / not posted) and one
    INSERT of the events, in one transaction: the same rows and values."""
    from sqlalchemy import bindparam, update

    from ml_connector.ledger.schema import FAILED, POSTED, QUARANTINED, documents
    from ml_connector.ledger.store import utcnow

    now = utcnow()
    posted = [dict(b_id=o.id, b_status=o.status, b_target=o.target_id) for o in outcomes if o.status == POSTED]
    other = [dict(b_id=o.id, b_status=o.status, b_class=o.error_class, b_error=o.error)
             for o in outcomes if o.status != POSTED]
    with self.engine.begin() as conn:
        if posted:
            conn.execute(
                update(documents).where(documents.c.id == bindparam("b_id")).values(
                    status=bindparam("b_status"), target_id=bindparam("b_target"), posted_at=now, error_class=None,
                    last_error=None, updated_at=now, flow_run_id=run_id, claim_token=None),
                posted)
        if other:
            conn.execute(
                update(documents).where(documents.c.id == bindparam("b_id")).values(
                    status=bindparam("b_status"), error_class=bindparam("b_class"), last_error=bindparam("b_error"),
                    updated_at=now, flow_run_id=run_id, claim_token=None),
                other)
        events = [(o.id, o.status, o.error) for o in outcomes if o.status in (POSTED, FAILED, QUARANTINED)]
        self._events(conn, integration, run_id, events, now)


@contextlib.contextmanager
def bulk_outcomes(enabled: bool):
    from ml_connector.ledger.store import Ledger

    original = Ledger.record_outcomes
    if enabled:
        Ledger.record_outcomes = record_outcomes_bulk
    try:
        yield
    finally:
        Ledger.record_outcomes = original


# -- the flow variants ------------------------------------------------------------------------------

_FLOWS: dict = {}


def flows() -> dict:
    """Copies of ``flows/sps_to_intacct.py::sps_to_intacct`` (without dry run and backfill
    window, which the benchmark does not use) with the prototype changes."""
    if _FLOWS:
        return _FLOWS
    from prefect import flow, task
    from prefect.utilities.annotations import quote

    from ml_connector.engine import MAX_PAGES, current_run_id
    from ml_connector.runtime.tenant import tenant as tenant_resources
    from ml_connector.settings import intent_lease_seconds
    from ml_connector.tasks.inbound import INTEGRATION, ingest_page
    from ml_connector.tasks.intacct import post_bills, resolve_intents
    from ml_connector.tasks.ops import finished_runs, publish_report
    from ml_connector.tasks.retry import retry_options
    from ml_connector.tasks.sps import consume_files, fetch_page

    fetch_io = task(name="fetch_page", **retry_options())(fetch_page_io)
    consume_io = task(name="consume_files", **retry_options())(consume_files_io)

    def body(tenant: str, page_size: int, *, io: bool) -> dict:
        run_id = current_run_id()
        resolved = resolve_intents(tenant, run_id, finished_runs(tenant, INTEGRATION, run_id),
                                   lease=timedelta(seconds=intent_lease_seconds()))
        ledger = tenant_resources(tenant).ledger
        cursor = ledger.get_cursor(INTEGRATION)
        deferred = 0
        fetch, consume = (fetch_io, consume_io) if io else (fetch_page, consume_files)
        page = fetch(tenant, cursor, page_size)
        for _ in range(MAX_PAGES):
            # prefetch: the next page is listed and downloaded while this one is recorded,
            # posted and consumed (reading never changes SPS, and the cursor still moves
            # only after this page is durable)
            upcoming = fetch.submit(tenant, page.next_cursor, page_size) if io and page.next_cursor else None
            deferred += len(page.deferred)
            report = ingest_page(tenant, quote(page), run_id)
            if report.new_ids:
                post_bills(tenant, quote(report.new_ids), run_id, quote(report.bills))
            consume(tenant, quote(report.consumed))
            ledger.set_cursor(INTEGRATION, page.next_cursor)
            if page.next_cursor is None:
                break
            page = upcoming.result() if upcoming is not None else fetch(tenant, page.next_cursor, page_size)
        after = 0
        while ids := ledger.pending_ids(INTEGRATION, limit=1000, after_id=after):
            post_bills(tenant, quote(ids), run_id)
            after = ids[-1]
        return publish_report(tenant, INTEGRATION, run_id, extra={**resolved, "deferred_to_next_poll": deferred})

    @flow(name="sps-to-intacct-quote")
    def quoted(tenant: str = "demo", page_size: int = 500) -> dict:
        return body(tenant, page_size, io=False)

    @flow(name="sps-to-intacct-io")
    def concurrent(tenant: str = "demo", page_size: int = 500) -> dict:
        return body(tenant, page_size, io=True)

    from ml_connector.pipelines.intacct_sps import CURSOR, EPOCH, OVERLAP
    from ml_connector.tasks.intacct import read_ar_page
    from ml_connector.tasks.outbound import INTEGRATION as OUTBOUND
    from ml_connector.tasks.outbound import ingest_ar_invoices, queue_orderacks, requeue_stale_uploads, send_documents

    @flow(name="intacct-to-sps-quote")
    def outbound_quoted(tenant: str = "demo", page_size: int = 500) -> dict:
        """``flows/intacct_to_sps.py::intacct_to_sps`` (live cursor) with the page of AR
        invoices and the id lists passed as ``quote(...)``."""
        run_id = current_run_id()
        ledger = tenant_resources(tenant).ledger
        stored = ledger.get_cursor(OUTBOUND, CURSOR)
        from datetime import datetime

        start = datetime.fromisoformat(stored) - OVERLAP if stored else EPOCH
        recovered = requeue_stale_uploads(tenant, run_id, finished_runs(tenant, OUTBOUND, run_id),
                                          lease=timedelta(seconds=intent_lease_seconds()))
        high, result_id = None, None
        for _ in range(MAX_PAGES):
            page = read_ar_page(tenant, start, None, result_id, page_size)
            report = ingest_ar_invoices(tenant, quote(page.invoices), run_id)
            if report.new_ids:
                send_documents(tenant, quote(report.new_ids), run_id)
            if report.max_modified and (high is None or report.max_modified > high):
                high = report.max_modified
            if not page.result_id or page.num_remaining == 0:
                break
            result_id = page.result_id
        if high is not None:
            ledger.set_cursor(OUTBOUND, high.isoformat(), CURSOR)
        ack_ids = queue_orderacks(tenant, run_id)
        if ack_ids:
            send_documents(tenant, quote(ack_ids), run_id)
        after = 0
        while ids := ledger.pending_ids(OUTBOUND, limit=1000, after_id=after):
            send_documents(tenant, quote(ids), run_id)
            after = ids[-1]
        return publish_report(tenant, OUTBOUND, run_id, extra={"recovered_intents": recovered})

    _FLOWS.update(quoted=quoted, concurrent=concurrent, outbound_quoted=outbound_quoted)
    return _FLOWS


def raw_io(tenant: str, page_size: int = 500) -> dict:
    """``bench.raw_pipelines.raw_sps_to_intacct`` with product+io's changes: pooled downloads and deletes, and
    the next page prefetched on a thread."""
    from ml_connector.engine import MAX_PAGES
    from ml_connector.runtime.tenant import tenant as tenant_resources
    from ml_connector.settings import intent_lease_seconds
    from ml_connector.tasks.inbound import INTEGRATION, ingest_page
    from ml_connector.tasks.intacct import post_bills, resolve_intents
    from ml_connector.tasks.ops import finished_runs

    run_id = f"raw-{uuid.uuid4()}"
    resolved = resolve_intents.fn(tenant, run_id, finished_runs.fn(tenant, INTEGRATION, run_id),
                                  lease=timedelta(seconds=intent_lease_seconds()))
    ledger = tenant_resources(tenant).ledger
    deferred = 0
    with ThreadPoolExecutor(1) as prefetch:
        page = fetch_page_io(tenant, ledger.get_cursor(INTEGRATION), page_size)
        for _ in range(MAX_PAGES):
            upcoming = prefetch.submit(fetch_page_io, tenant, page.next_cursor, page_size) if page.next_cursor else None
            deferred += len(page.deferred)
            report = ingest_page.fn(tenant, page, run_id, None, None)
            if report.new_ids:
                post_bills.fn(tenant, report.new_ids, run_id, report.bills)
            consume_files_io(tenant, report.consumed)
            ledger.set_cursor(INTEGRATION, page.next_cursor)
            if upcoming is None:
                break
            page = upcoming.result()
    after = 0
    while ids := ledger.pending_ids(INTEGRATION, limit=1000, after_id=after):
        post_bills.fn(tenant, ids, run_id)
        after = ids[-1]
    return raw_report(ledger, INTEGRATION, run_id, {**resolved, "deferred_to_next_poll": deferred})


# -- measuring ----------------------------------------------------------------------------------------


def variants() -> dict:
    from ml_connector.flows.intacct_to_sps import intacct_to_sps
    from ml_connector.flows.sps_to_intacct import sps_to_intacct

    f = flows()
    return {
        "product": ("flow", sps_to_intacct, False),
        "product+quote": ("flow", f["quoted"], False),
        "product+io": ("flow", f["concurrent"], False),
        "product+io+bulk": ("flow", f["concurrent"], True),
        "raw": ("raw", raw_sps_to_intacct, False),
        "raw+io": ("raw", raw_io, False),
        "raw+io+bulk": ("raw", raw_io, True),
        "naive": ("flow", naive_flow(), False),
        "outbound": ("flow", intacct_to_sps, False),
        "outbound+quote": ("flow", f["outbound_quoted"], False),
        "outbound-raw": ("raw", raw_intacct_to_sps, False),
    }


def measure(host, work: Path, name: str, documents: int, page_size: int, seed: int) -> dict:
    kind, fn, bulk = variants()[name]
    if name.startswith("outbound"):
        world = fresh_world(host, work, ar_invoices=documents, seed=seed)
    else:
        world = fresh_world(host, work, documents=documents, seed=seed)
    with bulk_outcomes(bulk):
        started = time.perf_counter()
        if kind == "flow":
            state = fn(tenant=TENANT, page_size=page_size, return_state=True)
            seconds = time.perf_counter() - started
            counts = state.result()
        else:
            counts = fn(TENANT, page_size)
            seconds = time.perf_counter() - started
    result = finish(host, name, documents, seconds, counts, world)
    if name.startswith("outbound"):
        result["invoices_missing"] = world["expected_invoices"] - result["sps_in"]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--variants", default="product,product+quote,product+io,product+io+bulk,raw,raw+io,raw+io+bulk")
    parser.add_argument("--naive", action="store_true", help="also run the naive design at the same size")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    WORKERS["value"] = args.workers
    names = args.variants.split(",") + (["naive"] if args.naive else [])

    from ml_connector.demo import prefect_api, prepare_environment

    prepare_environment(Path(tempfile.mkdtemp(prefix="mlc-proto-home-")))
    results: dict[str, list[dict]] = {n: [] for n in names}
    with prefect_api(), EmulatorHost(args.latency_ms) as host:
        work = Path(tempfile.mkdtemp(prefix="mlc-proto-"))
        for name in names:  # warm up every variant once (imports, first flow run of each flow)
            measure(host, work, name, 20, args.page_size, 3)
        for n in range(args.repeat):
            order = names[n % len(names):] + names[: n % len(names)]
            for name in order:
                progress(f"repeat {n + 1}/{args.repeat}: {name}")
                results[name].append(measure(host, work, name, args.documents, args.page_size, 11 + n))
            for name in names:  # the same requests as the first variant of the same flow
                r = results[name][-1]
                family = [x for x in names if x != "naive" and x.startswith("outbound") == name.startswith("outbound")]
                reference = results[family[0]][-1] if family else r
                if name != "naive":
                    assert (r["intacct_requests"], r["sps_requests"]) == (reference["intacct_requests"],
                                                                          reference["sps_requests"]), name
                assert r["bills_missing"] == 0 and r["bills_duplicated"] == 0 and r["sps_out_left"] == 0, name
                assert r.get("invoices_missing", 0) == 0, name
    summary = {}
    base = results[names[0]]
    for name in names:
        dps = [r["docs_per_second"] for r in results[name]]
        summary[name] = {
            "docs_per_second": round(statistics.median(dps), 1),
            "runs": dps,
            "vs_" + names[0]: round(statistics.median(r["docs_per_second"] / b["docs_per_second"]
                                                     for r, b in zip(results[name], base, strict=True)), 3),
        }
        raw_name = "outbound-raw" if name.startswith("outbound") else name.replace("product", "raw")
        if name.startswith(("product", "outbound")) and name != raw_name and raw_name in results:
            summary[name]["vs_" + raw_name] = round(statistics.median(
                p["docs_per_second"] / r["docs_per_second"]
                for p, r in zip(results[name], results[raw_name], strict=True)), 3)
        if "naive" in results and name != "naive" and not name.startswith("outbound"):
            summary[name]["vs_naive"] = round(statistics.median(
                p["docs_per_second"] / r["docs_per_second"]
                for p, r in zip(results[name], results["naive"], strict=True)), 2)
    print(f"{args.documents} documents, pages of {args.page_size}, {args.workers} I/O workers, "
          f"latency {args.latency_ms} ms per request, median of {args.repeat}:")
    for name, s in summary.items():
        extras = "  ".join(f"{k} {v}" for k, v in s.items() if k.startswith("vs_"))
        print(f"  {name:18} {s['docs_per_second']:>8} docs/s   {extras}   runs {s['runs']}")
    if args.json:
        print(json.dumps({"config": vars(args), "summary": summary}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
