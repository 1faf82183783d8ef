"""Benchmark suite: the product against the raw pipeline and the naive design, with the targets.

Everything runs against the sandbox served over real HTTP (uvicorn, ``sandbox/serve.py``). The
emulators live in a separate *emulator host* process, so the measured process spends its CPU
on the pipeline only and the memory figures are the pipeline's, not the emulators' (which hold
every seeded file in memory). One run measures, for SPS -> Intacct (inbound):

1. **product**: the deployed flow path, ``sps_to_intacct(tenant=..., return_state=True)`` on a
   local Prefect server, with ledger and dedup;
2. **raw**: the same task bodies called without Prefect (``fetch_page.fn``, ``ingest_page.fn``,
   ``post_bills.fn``, ``consume_files.fn``, ... in the flow's order), on the same data; the
   HTTP request counts at the emulators and the ledger counts must equal the product's
   (asserted);
3. **naive**: one Prefect task per document per step (fetch one file, parse+map one, record
   one, post one bill per request, delete one), as a flow defined here, at a smaller size;

and, for Intacct -> SPS (outbound), the product and raw throughput. It reports documents per
second, the ratios product/raw and product/naive (medians of the per-repeat paired ratios),
HTTP requests per posted document per target system, Prefect task runs per 1,000 documents,
and the peak RSS of the product flow process at two sizes (10,000 and 100,000 documents by
default), each in its own subprocess, beside the targets of issue 9.

    python benchmarks/run.py                     # full run (several minutes)
    python benchmarks/run.py --quick --json      # tiny sizes, well under a minute
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve()
TENANT = "demo"
QBO_TENANT = "demo-qbo"
WEBHOOK_POLLED = "n/a (this flow polls its source; no webhook starts it)"
WEBHOOK_SKIPPED = "n/a (not measured in this run: --webhook-events 0)"
QBO_NA = "n/a (SPS -> QBO not measured in this run)"

# issue 9's targets, on this 2-core machine
TARGET_PRODUCT_TO_RAW = 0.70
TARGET_PRODUCT_TO_NAIVE = 30.0
TARGET_INTACCT_REQ_PER_DOC = 0.02
TARGET_QBO_REQ_PER_DOC = 0.05
TARGET_PEAK_RATIO = 1.5
TARGET_WEBHOOK_P50_S = 2.0

FULL = dict(documents=2000, naive_documents=300, outbound_documents=2000, qbo_documents=2000, page_size=500,
            repeat=3, memory_sizes=(10_000, 100_000), webhook_events=10, webhook_polls=(10, 1))
QUICK = dict(documents=60, naive_documents=12, outbound_documents=40, qbo_documents=60, page_size=25, repeat=1,
             memory_sizes=(40, 200), webhook_events=0, webhook_polls=(10,))


# ---------------------------------------------------------------------------------------------
# The emulator host: Intacct and SPS emulators served over HTTP in a process of their own.
# ---------------------------------------------------------------------------------------------


def emulator_host_main() -> int:
    """Child mode: answer JSON commands, one per line on stdin, one reply per line."""
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printing to stdout (uvicorn, warnings) goes to stderr
    sys.stdout = sys.stderr

    from ml_connector.mappings.tenant import load_tenant, tenant_path
    from ml_connector.sandbox.intacct import IntacctEmulator
    from ml_connector.sandbox.seed import Seeded, seed_ar_invoices, seed_intacct_master, seed_sps_documents
    from ml_connector.sandbox.serve import serve_in_thread
    from ml_connector.sandbox.sps import SpsEmulator

    mapping = load_tenant(tenant_path(TENANT))
    mappings = {TENANT: mapping}
    state: dict = {}

    def stop() -> None:
        for served in state.pop("served", []):
            served.stop()

    def world(documents: int = 0, seed: int = 11, bad_fraction: float = 0.0, ar_invoices: int = 0,
              latency_ms: float = 0.0, target: str = "intacct") -> dict:
        """Fresh emulators: SPS and the ``target`` (intacct, or qbo for the demo-qbo tenant)."""
        stop()
        started = time.perf_counter()
        sps, seeded = SpsEmulator(), Seeded()
        if target == "qbo":
            from ml_connector.demo_parts.sps_qbo import seed_qbo_company
            from ml_connector.sandbox.qbo import QboEmulator

            other = QboEmulator()
        else:
            other = IntacctEmulator()
        if latency_ms:
            for emulator in (other, sps):
                emulator.asgi = _with_latency(emulator.asgi, latency_ms / 1000)
        state["served"] = [serve_in_thread(other), serve_in_thread(sps)]
        if target == "qbo":
            tenant_mapping = mappings.setdefault(QBO_TENANT, load_tenant(tenant_path(QBO_TENANT)))
            seed_qbo_company(other, tenant_mapping)
        else:
            tenant_mapping = mapping
            seed_intacct_master(other, mapping)
            if ar_invoices:
                seed_ar_invoices(other, mapping, ar_invoices, seed, seeded)
        if documents:
            seed_sps_documents(sps, tenant_mapping, documents, seed, bad_fraction, seeded)
        other.requests = sps.requests = 0
        state.update(target=target, other=other, sps=sps, seeded=seeded, mapping=tenant_mapping)
        creds = sps.credentials()
        return {
            target: other.credentials(),
            "sps": {k: creds[k] for k in ("client_id", "client_secret", "base_url", "token_url", "audience")},
            "expected_bills": len(seeded.expected_bills) if target == "intacct" else 0,
            "expected_invoices": len(seeded.expected_invoices),
            "expected_pos": len(seeded.orders) if target == "qbo" else 0,
            "seed_seconds": round(time.perf_counter() - started, 2),
        }

    def stats() -> dict:
        target, other, sps, seeded = state["target"], state["other"], state["sps"], state["seeded"]
        written: dict = {}
        if target == "qbo":
            vendors = {p.vendor_ref: pid for pid, p in state["mapping"].qbo.partners.items()}
            for po in other.entities("PurchaseOrder"):
                key = (vendors.get(po.get("VendorRef", {}).get("value")), po.get("DocNumber"))
                written[key] = written.get(key, 0) + 1
            expected = seeded.orders
        else:
            for b in other.bills():
                key = (b["VENDORID"], b["RECORDID"])
                written[key] = written.get(key, 0) + 1
            expected = seeded.expected_bills
        return {
            "intacct_requests": other.requests if target == "intacct" else 0,
            "qbo_requests": other.requests if target == "qbo" else 0,
            "sps_requests": sps.requests,
            "bills": len(written),
            "bills_missing": sum(1 for k in expected if k not in written),
            "bills_duplicated": sum(1 for c in written.values() if c > 1),
            "sps_out_left": len(sps.files("out/")),
            "sps_in": len(sps.inbox()),
            "host_peak_rss_mb": _mb(_peak_rss_kb()),
        }

    def qbo_event(n: int) -> dict:
        """A new QBO invoice for a mapped customer, and its signed webhook delivery."""
        from decimal import Decimal

        qbo, m = state["other"], state["mapping"]
        partners = [p.customer_ref for p in m.qbo.partners.values() if p.customer_ref]
        item = m.items[n % len(m.items)]
        qbo.add_invoice(partners[n % len(partners)],
                        [{"item_id": m.qbo.items[item.item_id], "qty": 2, "unit_price": item.unit_cost or Decimal("9.99")}],
                        doc_number=f"WH-{30000 + n}", txn_date="2026-11-02")
        change = [c for c in qbo.changes() if c.entity == "Invoice"][-1]
        body, headers = qbo.signed_notification([change], fmt="cloudevents")
        return {"body": body.decode(), "headers": dict(headers)}

    def inbox() -> dict:
        return {"count": len(state["sps"].inbox())}

    handlers = {"world": world, "stats": stats, "qbo_event": qbo_event, "inbox": inbox, "quit": lambda: stop() or {}}
    for line in sys.stdin:
        command = json.loads(line)
        try:
            reply = {"ok": True, "result": handlers[command["op"]](**command.get("args", {}))}
        except Exception as exc:  # the parent raises it
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        if command["op"] == "quit":
            break
    return 0


def _with_latency(make_app, seconds: float):
    """``Emulator.asgi`` with a network round trip's worth of waiting before each request,
    as an awaited sleep: concurrent requests wait side by side, as they would on a WAN."""
    import asyncio

    def asgi():
        app = make_app()

        async def delayed(scope, receive, send):
            if scope["type"] == "http":
                await asyncio.sleep(seconds)
            await app(scope, receive, send)

        return delayed

    return asgi


class EmulatorHost:
    """The parent's handle on the emulator host process. ``latency_ms`` delays every HTTP
    request to the emulators (0: the plain sandbox on loopback)."""

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.latency_ms = latency_ms
        self.proc = subprocess.Popen([sys.executable, str(HERE), "--emulator-host"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=dict(os.environ))

    def call(self, op: str, **args) -> dict:
        assert self.proc.stdin and self.proc.stdout
        if op == "world" and self.latency_ms:
            args.setdefault("latency_ms", self.latency_ms)
        self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator host died (exit code {self.proc.wait()})")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(f"emulator host, {op}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("quit")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> "EmulatorHost":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# Setting up one measurement: a fresh sandbox world, ledger, credentials and caches.
# ---------------------------------------------------------------------------------------------


def fresh_world(host: EmulatorHost, work: Path, **world_args) -> dict:
    """New emulators (seeded), a new ledger file, the blocks pointing at them, no cached
    clients or Intacct sessions: every measured path starts from the same cold state."""
    from ml_connector.connectors.intacct.auth import shared_sessions
    from ml_connector.demo import save_blocks
    from ml_connector.tasks.resources import reset

    world = host.call("world", **world_args)
    ledger = work / f"ledger-{uuid.uuid4().hex[:8]}.db"
    os.environ["ML_CONNECTOR_LEDGER_URL"] = f"sqlite:///{ledger}"
    reset()
    shared_sessions().clear()
    if world_args.get("target") == "qbo":
        from ml_connector.credentials import save_block

        save_block(QBO_TENANT, "sps", world["sps"])
        save_block(QBO_TENANT, "qbo", world["qbo"])
    else:
        save_blocks(TENANT, world["intacct"], world["sps"])
    world["ledger_url"] = os.environ["ML_CONNECTOR_LEDGER_URL"]
    return world


def _finish(host: EmulatorHost, name: str, documents: int, seconds: float, counts: dict, world: dict,
            task_runs: int | None = None) -> dict:
    from ml_connector.tasks.resources import reset

    reset()
    stats = host.call("stats")
    posted = counts.get("posted", 0)
    out = {
        "path": name,
        "documents": documents,
        "posted": posted,
        "seconds": round(seconds, 3),
        "docs_per_second": round(posted / seconds, 2) if seconds and posted else 0.0,
        "counts": {k: v for k, v in counts.items() if isinstance(v, int)},
        "intacct_requests": stats["intacct_requests"],
        "qbo_requests": stats["qbo_requests"],
        "sps_requests": stats["sps_requests"],
        "intacct_requests_per_posted_doc": round(stats["intacct_requests"] / posted, 5) if posted else None,
        "qbo_requests_per_posted_doc": round(stats["qbo_requests"] / posted, 5) if posted else None,
        "sps_requests_per_posted_doc": round(stats["sps_requests"] / posted, 5) if posted else None,
        "bills_missing": stats["bills_missing"] if world.get("expected_bills") or world.get("expected_pos") else 0,
        "bills_duplicated": stats["bills_duplicated"],
        "sps_out_left": stats["sps_out_left"],
        "sps_in": stats["sps_in"],
    }
    if task_runs is not None:
        out["prefect_task_runs"] = task_runs
        out["prefect_task_runs_per_1000_docs"] = round(task_runs * 1000 / documents, 2)
    return out


# ---------------------------------------------------------------------------------------------
# 1. The product: the deployed flow through Prefect.
# ---------------------------------------------------------------------------------------------


def product_inbound(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int,
                    bad_fraction: float = 0.0) -> dict:
    from ml_connector.flows.sps_to_intacct import sps_to_intacct

    world = fresh_world(host, work, documents=documents, seed=seed, bad_fraction=bad_fraction)
    started = time.perf_counter()
    state = sps_to_intacct(tenant=TENANT, page_size=page_size, return_state=True)
    seconds = time.perf_counter() - started
    counts = state.result()
    task_runs = count_task_runs(str(state.state_details.flow_run_id))
    return _finish(host, "product", documents, seconds, counts, world, task_runs)


def product_outbound(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int) -> dict:
    from ml_connector.flows.intacct_to_sps import intacct_to_sps

    world = fresh_world(host, work, ar_invoices=documents, seed=seed)
    started = time.perf_counter()
    state = intacct_to_sps(tenant=TENANT, page_size=page_size, return_state=True)
    seconds = time.perf_counter() - started
    counts = state.result()
    task_runs = count_task_runs(str(state.state_details.flow_run_id))
    result = _finish(host, "product", documents, seconds, counts, world, task_runs)
    result["invoices_missing"] = world["expected_invoices"] - result["sps_in"]
    return result


def product_sps_qbo(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int) -> dict:
    from ml_connector.flows.sps_to_qbo import sps_to_qbo

    world = fresh_world(host, work, documents=documents, seed=seed, target="qbo")
    started = time.perf_counter()
    state = sps_to_qbo(tenant=QBO_TENANT, page_size=page_size, return_state=True)
    seconds = time.perf_counter() - started
    counts = state.result()
    task_runs = count_task_runs(str(state.state_details.flow_run_id))
    return _finish(host, "product", documents, seconds, counts, world, task_runs)


# ---------------------------------------------------------------------------------------------
# 2. The raw pipeline: the flows' bodies with the tasks' underlying functions, no Prefect.
# ---------------------------------------------------------------------------------------------


def raw_sps_to_intacct(tenant: str, page_size: int = 500) -> dict:
    """``flows/sps_to_intacct.py::sps_to_intacct`` line for line, calling ``task.fn``: the same
    HTTP requests, mapping, ledger writes and batching. Only Prefect is missing: no flow or
    task runs, no run logger, and the report's artifact is not published (its ledger queries
    still run)."""
    from ml_connector.flows.sps_to_intacct import MAX_PAGES
    from ml_connector.settings import intent_lease_seconds
    from ml_connector.tasks.inbound import INTEGRATION, ingest_page
    from ml_connector.tasks.intacct import post_bills, resolve_intents
    from ml_connector.tasks.ops import finished_runs
    from ml_connector.tasks.resources import tenant as tenant_resources
    from ml_connector.tasks.sps import consume_files, fetch_page

    run_id = f"raw-{uuid.uuid4()}"
    resolved = resolve_intents.fn(tenant, run_id, finished_runs.fn(tenant, INTEGRATION, run_id),
                                  lease=timedelta(seconds=intent_lease_seconds()))
    ledger = tenant_resources(tenant).ledger
    cursor = ledger.get_cursor(INTEGRATION)
    deferred = 0
    for _ in range(MAX_PAGES):
        page = fetch_page.fn(tenant, cursor, page_size)
        deferred += len(page.deferred)
        report = ingest_page.fn(tenant, page, run_id, None, None)
        if report.new_ids:
            post_bills.fn(tenant, report.new_ids, run_id, report.bills)
        consume_files.fn(tenant, report.consumed)
        ledger.set_cursor(INTEGRATION, page.next_cursor)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    after = 0
    while ids := ledger.pending_ids(INTEGRATION, limit=1000, after_id=after):
        post_bills.fn(tenant, ids, run_id)
        after = ids[-1]
    return _raw_report(ledger, INTEGRATION, run_id, {**resolved, "deferred_to_next_poll": deferred})


def raw_intacct_to_sps(tenant: str, page_size: int = 500) -> dict:
    """``flows/intacct_to_sps.py::intacct_to_sps`` (live cursor, no window) calling ``task.fn``."""
    from ml_connector.flows.intacct_to_sps import CURSOR, EPOCH, OVERLAP
    from ml_connector.flows.sps_to_intacct import MAX_PAGES
    from ml_connector.settings import intent_lease_seconds
    from ml_connector.tasks.intacct import read_ar_page
    from ml_connector.tasks.ops import finished_runs
    from ml_connector.tasks.outbound import (
        INTEGRATION,
        ingest_ar_invoices,
        queue_orderacks,
        requeue_stale_uploads,
        send_documents,
    )
    from ml_connector.tasks.resources import tenant as tenant_resources

    run_id = f"raw-{uuid.uuid4()}"
    ledger = tenant_resources(tenant).ledger
    stored = ledger.get_cursor(INTEGRATION, CURSOR)
    start = datetime.fromisoformat(stored) - OVERLAP if stored else EPOCH
    recovered = requeue_stale_uploads.fn(tenant, run_id, finished_runs.fn(tenant, INTEGRATION, run_id),
                                         lease=timedelta(seconds=intent_lease_seconds()))
    high, result_id = None, None
    for _ in range(MAX_PAGES):
        page = read_ar_page.fn(tenant, start, None, result_id, page_size)
        report = ingest_ar_invoices.fn(tenant, page.invoices, run_id)
        if report.new_ids:
            send_documents.fn(tenant, report.new_ids, run_id)
        if report.max_modified and (high is None or report.max_modified > high):
            high = report.max_modified
        if not page.result_id or page.num_remaining == 0:
            break
        result_id = page.result_id
    if high is not None:
        ledger.set_cursor(INTEGRATION, high.isoformat(), CURSOR)
    ack_ids = queue_orderacks.fn(tenant, run_id)
    if ack_ids:
        send_documents.fn(tenant, ack_ids, run_id)
    after = 0
    while ids := ledger.pending_ids(INTEGRATION, limit=1000, after_id=after):
        send_documents.fn(tenant, ids, run_id)
        after = ids[-1]
    return _raw_report(ledger, INTEGRATION, run_id, {"recovered_intents": recovered})


def raw_sps_to_qbo(tenant: str, page_size: int = 500) -> dict:
    """``flows/sps_to_qbo.py::sps_to_qbo`` line for line, calling ``task.fn``."""
    from ml_connector.flows.sps_to_intacct import MAX_PAGES
    from ml_connector.settings import intent_lease_seconds
    from ml_connector.tasks.ops import finished_runs
    from ml_connector.tasks.qbo import INBOUND, ingest_orders, post_purchase_orders, resolve_po_intents
    from ml_connector.tasks.resources import tenant as tenant_resources
    from ml_connector.tasks.sps import consume_files, fetch_page

    run_id = f"raw-{uuid.uuid4()}"
    resolved = resolve_po_intents.fn(tenant, run_id, finished_runs.fn(tenant, INBOUND, run_id),
                                     lease=timedelta(seconds=intent_lease_seconds()))
    ledger = tenant_resources(tenant).ledger
    cursor, deferred = ledger.get_cursor(INBOUND), 0
    for _ in range(MAX_PAGES):
        page = fetch_page.fn(tenant, cursor, page_size)
        deferred += len(page.deferred)
        report = ingest_orders.fn(tenant, page, run_id)
        if report.new_ids:
            post_purchase_orders.fn(tenant, report.new_ids, run_id)
        consume_files.fn(tenant, report.consumed)
        ledger.set_cursor(INBOUND, page.next_cursor)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    after = 0
    while ids := ledger.pending_ids(INBOUND, limit=1000, after_id=after):
        post_purchase_orders.fn(tenant, ids, run_id)
        after = ids[-1]
    return _raw_report(ledger, INBOUND, run_id, {**resolved, "deferred_to_next_poll": deferred})


def raw_qbo(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int) -> dict:
    world = fresh_world(host, work, documents=documents, seed=seed, target="qbo")
    started = time.perf_counter()
    counts = raw_sps_to_qbo(QBO_TENANT, page_size)
    seconds = time.perf_counter() - started
    return _finish(host, "raw", documents, seconds, counts, world)


def _raw_report(ledger, integration: str, run_id: str, extra: dict) -> dict:
    """``publish_report``'s ledger work, without the Prefect artifact."""
    counts = ledger.run_counts(integration, run_id)
    ledger.run_failures(integration, run_id)
    return {**counts, **extra}


def raw_inbound(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int,
                bad_fraction: float = 0.0) -> dict:
    world = fresh_world(host, work, documents=documents, seed=seed, bad_fraction=bad_fraction)
    started = time.perf_counter()
    counts = raw_sps_to_intacct(TENANT, page_size)
    seconds = time.perf_counter() - started
    return _finish(host, "raw", documents, seconds, counts, world)


def raw_outbound(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int) -> dict:
    world = fresh_world(host, work, ar_invoices=documents, seed=seed)
    started = time.perf_counter()
    counts = raw_intacct_to_sps(TENANT, page_size)
    seconds = time.perf_counter() - started
    result = _finish(host, "raw", documents, seconds, counts, world)
    result["invoices_missing"] = world["expected_invoices"] - result["sps_in"]
    return result


# ---------------------------------------------------------------------------------------------
# 3. The naive design: one Prefect task per document per step.
# ---------------------------------------------------------------------------------------------

_NAIVE: dict = {}


def naive_flow():
    """The inbound flow as a naive design would write it: the listing is paged (the API is),
    but every document is its own task at every step, and every bill its own request. Same
    connector, mapping, ledger and retry policy as the product. Built on first use so that the
    emulator host and memory children do not pay for it."""
    if "flow" in _NAIVE:
        return _NAIVE["flow"]
    from prefect import flow, task

    from ml_connector.connectors.errors import NotFound
    from ml_connector.flows.sps_to_intacct import MAX_PAGES, current_run_id
    from ml_connector.settings import intent_lease_seconds
    from ml_connector.tasks.inbound import INTEGRATION, remap, unwrap
    from ml_connector.tasks.intacct import resolve_intents, write_bills
    from ml_connector.tasks.ops import finished_runs, publish_report
    from ml_connector.tasks.posting import post_documents
    from ml_connector.tasks.resources import tenant as tenant_resources
    from ml_connector.tasks.retry import retry_options
    from ml_connector.tasks.sps import INBOX

    @task(name="naive-list-page", **retry_options())
    def list_page(tenant: str, cursor: str | None, limit: int):
        return tenant_resources(tenant).sps().list_page(INBOX, cursor=cursor, limit=limit)

    @task(name="naive-fetch-file", **retry_options())
    def fetch_file(tenant: str, path: str) -> bytes | None:
        try:
            return tenant_resources(tenant).sps().get(path)
        except NotFound:
            return None

    @task(name="naive-map-file")
    def map_file(tenant: str, path: str, content: bytes):
        return unwrap(path, content, tenant_resources(tenant).mapping)

    @task(name="naive-record-file")
    def record_file(tenant: str, rows: list, run_id: str) -> list[int]:
        return tenant_resources(tenant).ledger.ingest(INTEGRATION, rows, run_id).new_ids

    @task(name="naive-post-bill", **retry_options())
    def post_bill(tenant: str, doc_id: int, run_id: str, bills: dict) -> dict:
        res = tenant_resources(tenant)

        def build(c):
            bill = bills.get((c.doc_type, c.partner, c.natural_key))
            return bill if bill is not None else remap(c.raw_payload, c.source_ref, res.mapping)[2]

        return post_documents(res.ledger, INTEGRATION, [doc_id], run_id, build=build,
                              write=lambda prepared: write_bills(res, prepared), batch_size=1)

    @task(name="naive-delete-file", **retry_options())
    def delete_file(tenant: str, path: str) -> bool:
        try:
            tenant_resources(tenant).sps().delete(path)
            return True
        except NotFound:
            return False

    @flow(name="naive-sps-to-intacct")
    def naive_sps_to_intacct(tenant: str = TENANT, page_size: int = 500) -> dict:
        run_id = current_run_id()
        resolved = resolve_intents(tenant, run_id, finished_runs(tenant, INTEGRATION, run_id),
                                   lease=timedelta(seconds=intent_lease_seconds()))
        ledger = tenant_resources(tenant).ledger
        cursor = ledger.get_cursor(INTEGRATION)
        for _ in range(MAX_PAGES):
            listing = list_page(tenant, cursor, page_size)
            for path in listing.files:
                content = fetch_file(tenant, path)
                if content is None:
                    continue
                rows, bills = map_file(tenant, path, content)
                for doc_id in record_file(tenant, rows, run_id):
                    post_bill(tenant, doc_id, run_id, bills)
                delete_file(tenant, path)
            ledger.set_cursor(INTEGRATION, listing.next_cursor)
            if listing.next_cursor is None:
                break
            cursor = listing.next_cursor
        return publish_report(tenant, INTEGRATION, run_id, extra=resolved)

    _NAIVE["flow"] = naive_sps_to_intacct
    return naive_sps_to_intacct


def naive_inbound(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int,
                  bad_fraction: float = 0.0) -> dict:
    flow_fn = naive_flow()
    world = fresh_world(host, work, documents=documents, seed=seed, bad_fraction=bad_fraction)
    started = time.perf_counter()
    state = flow_fn(tenant=TENANT, page_size=page_size, return_state=True)
    seconds = time.perf_counter() - started
    counts = state.result()
    task_runs = count_task_runs(str(state.state_details.flow_run_id))
    return _finish(host, "naive", documents, seconds, counts, world, task_runs)


# ---------------------------------------------------------------------------------------------
# Prefect task runs, counted by the server.
# ---------------------------------------------------------------------------------------------


SETTLE_SECONDS = {"value": 3.0}  # how long the task-run count must hold still (shorter in --quick)


def count_task_runs(flow_run_id: str, settle: float | None = None, timeout: float = 120.0) -> int:
    """Task runs the Prefect server recorded for one flow run, paging 200 at a time. Prefect 3
    reports task runs eventually (through events), so poll until the count has not changed
    for ``settle`` seconds."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    settle = SETTLE_SECONDS["value"] if settle is None else settle
    flt = FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(flow_run_id)]))
    last, stable_since, deadline = -1, time.monotonic(), time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() - stable_since < settle and time.monotonic() < deadline:
            total, offset = 0, 0
            while page := client.read_task_runs(flow_run_filter=flt, limit=200, offset=offset):
                total, offset = total + len(page), offset + len(page)
            if total != last:
                last, stable_since = total, time.monotonic()
            time.sleep(0.25)
    return last


# ---------------------------------------------------------------------------------------------
# Peak memory of the product flow process, one subprocess per size.
# ---------------------------------------------------------------------------------------------


def _mb(kilobytes: int) -> float:
    return round(kilobytes / 1024, 1)


def _proc_status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _vm_rss_kb() -> int:
    return _proc_status_kb("VmRSS")


def _peak_rss_kb() -> int:
    """The process's peak RSS. ``VmHWM`` rather than ``getrusage(RUSAGE_SELF).ru_maxrss``:
    Linux keeps ru_maxrss across fork+exec, so a child of a big parent reports the parent's
    size at the fork; VmHWM belongs to the child's own address space."""
    return _proc_status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child_main(documents: int, page_size: int, path: str) -> int:
    """Child mode: run the product flow (or the raw pipeline) once on the world the parent
    seeded, and print its RSS figures as JSON on the last line."""
    import importlib

    for module in ("ml_connector.flows.sps_to_intacct", "ml_connector.tasks.intacct", "ml_connector.tasks.sps"):
        importlib.import_module(module)  # everything the run imports, before the baseline
    from ml_connector.flows.sps_to_intacct import sps_to_intacct

    baseline = _vm_rss_kb()
    started = time.perf_counter()
    if path == "product":
        state = sps_to_intacct(tenant=TENANT, page_size=page_size, return_state=True)
        counts = state.result()
    else:
        counts = raw_sps_to_intacct(TENANT, page_size)
    seconds = time.perf_counter() - started
    peak = _peak_rss_kb()
    print(json.dumps({
        "path": path,
        "documents": documents,
        "posted": counts.get("posted", 0),
        "seconds": round(seconds, 2),
        "docs_per_second": round(counts.get("posted", 0) / seconds, 1) if seconds else None,
        "baseline_rss_mb": _mb(baseline),
        "peak_rss_mb": _mb(peak),
        "end_rss_mb": _mb(_vm_rss_kb()),
        "growth_mb": _mb(peak - baseline),
        "ru_maxrss_mb": _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
    }))
    return 0


def measure_memory(host: EmulatorHost, work: Path, documents: int, page_size: int, seed: int,
                   path: str = "product") -> dict:
    """Seed ``documents`` in the emulator host, then run the flow in a fresh subprocess."""
    from prefect.settings import get_current_settings

    world = fresh_world(host, work, documents=documents, seed=seed)
    env = dict(os.environ)
    env["PREFECT_API_URL"] = str(get_current_settings().api.url)
    env["ML_CONNECTOR_LEDGER_URL"] = world["ledger_url"]
    env.setdefault("PREFECT_HOME", str(work / "prefect-child"))
    proc = subprocess.run(
        [sys.executable, str(HERE), "--memory-child", str(documents), "--page-size", str(page_size),
         "--memory-path", path],
        env=env, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory child ({documents} documents) failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    stats = host.call("stats")
    result.update(bills_missing=stats["bills_missing"], emulator_host_peak_rss_mb=stats["host_peak_rss_mb"],
                  seed_seconds=world["seed_seconds"])
    return result


# ---------------------------------------------------------------------------------------------
# Webhook-to-posted latency: QBO notification -> webhook service -> qbo-to-sps deployment -> SPS.
# ---------------------------------------------------------------------------------------------


def serve_qbo_to_sps_main() -> int:
    """Child mode: serve the ``qbo-to-sps`` deployment (the Runner: polls the Prefect server for
    runs every ``PREFECT_RUNNER_POLL_FREQUENCY`` seconds and executes each in a subprocess, as a
    process worker does)."""
    import yaml
    from prefect.events import DeploymentEventTrigger

    from ml_connector.flows.qbo_to_sps import qbo_to_sps

    # The deployment's trigger from prefect.yaml: the webhook service emits the event it waits for.
    spec = next(d for d in yaml.safe_load((HERE.parents[1] / "prefect.yaml").read_text())["deployments"]
                if d["name"] == "qbo-to-sps")
    triggers = [DeploymentEventTrigger(**{k: v for k, v in t.items() if k != "type"})
                for t in spec.get("triggers") or [] if t.get("type", "event") == "event"]
    qbo_to_sps.serve(name="qbo-to-sps", parameters={"tenant": QBO_TENANT}, triggers=triggers)
    return 0


def measure_webhook_latency(host: EmulatorHost, work: Path, events: int, poll_seconds: int = 10, *,
                            runner_argv: list[str] | None = None, service_argv: list[str] | None = None) -> dict:
    """Deliver ``events`` signed QBO notifications, one at a time, to the webhook service (its own
    process, ``ml-connector webhooks serve``: it stores each in the ledger and starts the
    ``qbo-to-sps`` deployment with ``run_deployment(timeout=0)``), and time each from the POST to
    its RSX invoice appearing in SPS. The deployment is served by another process
    (``flow.serve``), polling every ``poll_seconds``. ``runner_argv``/``service_argv`` replace the
    two processes (prototypes: a Prefect task worker instead of the served deployment)."""
    import httpx
    from prefect.settings import get_current_settings

    from ml_connector.sandbox.serve import free_port
    from ml_connector.webhooks.app import DEPLOYMENT

    fresh_world(host, work, target="qbo")
    api_url = str(get_current_settings().api.url)
    service = None
    env = dict(os.environ, PREFECT_API_URL=api_url, PREFECT_RUNNER_POLL_FREQUENCY=str(poll_seconds))
    env.setdefault("PREFECT_HOME", str(work / "prefect-child"))
    log = open(work / f"serve-qbo-to-sps-{uuid.uuid4().hex[:6]}.log", "w")
    runner = subprocess.Popen(runner_argv or [sys.executable, str(HERE), "--serve-qbo-to-sps"], env=env,
                              stdout=log, stderr=log)
    try:
        if runner_argv is None:
            _wait_for_deployment(DEPLOYMENT, runner, log.name)
        # the webhook service in its own process, as deployed (ml-connector webhooks serve)
        port = free_port()
        argv = service_argv or [sys.executable, "-m", "ml_connector.cli", "webhooks", "serve", "--tenant", QBO_TENANT]
        service = subprocess.Popen(argv + ["--port", str(port)], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or service.poll() is not None:
                raise RuntimeError(f"the webhook service did not start (see {log.name})")
            time.sleep(0.2)
        latencies, acks = [], []
        since = datetime.now(timezone.utc)
        with httpx.Client(timeout=30) as http:
            for n in range(events):
                event = host.call("qbo_event", n=n)
                before = host.call("inbox")["count"]
                started = time.perf_counter()
                answer = http.post(f"http://127.0.0.1:{port}/webhooks/qbo", content=event["body"].encode(),
                                   headers=event["headers"])
                acks.append(time.perf_counter() - started)
                answer.raise_for_status()
                deadline = time.monotonic() + 180
                while host.call("inbox")["count"] <= before:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"webhook event {n} was not posted to SPS within 180 s (see {log.name})")
                    time.sleep(0.05)
                latencies.append(time.perf_counter() - started)
        phases = _flow_run_phases(DEPLOYMENT, since) if runner_argv is None else []
    finally:
        for proc in (service, runner):
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()
    ordered = sorted(latencies)
    return {
        "events": events,
        "runner_poll_seconds": poll_seconds,
        "p50_seconds": round(statistics.median(ordered), 2),
        "p95_seconds": round(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], 2),
        "latencies_seconds": [round(x, 2) for x in latencies],
        "webhook_ack_ms_p50": round(1000 * statistics.median(acks), 1),
        "flow_runs": len(phases),
        # medians over the deployment's runs, from their state history
        "scheduled_to_pending_s_p50": _median(p.get("scheduled_to_pending") for p in phases),
        "pending_to_running_s_p50": _median(p.get("pending_to_running") for p in phases),
        "running_to_completed_s_p50": _median(p.get("running_to_completed") for p in phases),
    }


def _wait_for_deployment(name: str, runner: subprocess.Popen, log_name: str, timeout: float = 120) -> None:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            try:
                client.read_deployment_by_name(name)
                return
            except Exception:
                if time.monotonic() > deadline or runner.poll() is not None:
                    raise RuntimeError(f"the {name} deployment was not served (see {log_name})") from None
                time.sleep(0.5)


def _flow_run_phases(deployment_name: str, since: datetime) -> list[dict]:
    """Per flow run of a deployment: seconds from Scheduled to Pending (waiting to be picked
    up), Pending to Running (the runner starting a process for it) and Running to Completed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    out = []
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(deployment_name)
        runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])))
        for flow_run in runs:
            if flow_run.created is not None and flow_run.created < since:
                continue  # an earlier measurement's run
            first: dict = {}
            for st in sorted(client.read_flow_run_states(flow_run.id), key=lambda x: x.timestamp):
                first.setdefault(st.type.value, st.timestamp)
            phases = {}
            for name, a, b in (("scheduled_to_pending", "SCHEDULED", "PENDING"),
                               ("pending_to_running", "PENDING", "RUNNING"),
                               ("running_to_completed", "RUNNING", "COMPLETED")):
                if a in first and b in first:
                    phases[name] = round((first[b] - first[a]).total_seconds(), 3)
            out.append(phases)
    return out


# ---------------------------------------------------------------------------------------------
# The suite.
# ---------------------------------------------------------------------------------------------


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def _summary(runs: list[dict]) -> dict:
    keys = ("docs_per_second", "seconds", "intacct_requests_per_posted_doc", "qbo_requests_per_posted_doc",
            "sps_requests_per_posted_doc", "prefect_task_runs_per_1000_docs")
    out = {k: _median(r.get(k) for r in runs) for k in keys if any(k in r for r in runs)}
    out.update(documents=runs[0]["documents"], posted=runs[0]["posted"], repeats=len(runs),
               missing=max(r["bills_missing"] + r.get("invoices_missing", 0) for r in runs), runs=runs)
    return out


def _paired_ratio(a: list[dict], b: list[dict]) -> tuple[float, list[float]]:
    ratios = [round(x["docs_per_second"] / y["docs_per_second"], 4) for x, y in zip(a, b) if y["docs_per_second"]]
    return (round(statistics.median(ratios), 4) if ratios else 0.0), ratios


def _assert_same_work(product: dict, raw: dict, label: str) -> None:
    """The raw pipeline must do what the product does: same requests, same ledger outcome."""
    for key in ("intacct_requests", "qbo_requests", "sps_requests"):
        assert product[key] == raw[key], f"{label}: {key} differ, product {product[key]} != raw {raw[key]}"
    assert product["counts"] == raw["counts"], f"{label}: ledger counts differ: {product['counts']} != {raw['counts']}"


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_suite(*, documents: int, naive_documents: int, outbound_documents: int, qbo_documents: int, page_size: int,
              repeat: int,
              memory_sizes: tuple[int, ...], seed: int = 11, bad_fraction: float = 0.0, quick: bool = False,
              memory_raw: bool = False, latency_ms: float = 0.0, webhook_events: int = 0,
              webhook_polls: tuple[int, ...] = (10,)) -> dict:
    """Run every measurement once per repeat (product and raw alternate which goes first) and
    return the report. Needs a Prefect API (``prefect_api()``, or a test's server)."""
    work = Path(tempfile.mkdtemp(prefix="mlc-bench-"))
    SETTLE_SECONDS["value"] = 1.0 if quick else 3.0
    load_start = os.getloadavg()
    started = time.monotonic()
    inbound: dict[str, list] = {"product": [], "raw": [], "product_small": [], "naive": []}
    outbound: dict[str, list] = {"product": [], "raw": []}
    to_qbo: dict[str, list] = {"product": [], "raw": []}
    with EmulatorHost(latency_ms) as host:
        if not quick:  # --quick checks that everything runs, not how fast
            _progress("warming up (a small product and raw run, not counted)")
            product_inbound(host, work, min(20, documents), page_size, seed)
            raw_inbound(host, work, min(20, documents), page_size, seed)
        for n in range(repeat):
            s = seed + n
            order = ("product", "raw") if n % 2 == 0 else ("raw", "product")
            for which in order:
                _progress(f"repeat {n + 1}/{repeat}: inbound {which}, {documents} documents")
                fn = product_inbound if which == "product" else raw_inbound
                inbound[which].append(fn(host, work, documents, page_size, s, bad_fraction))
            _assert_same_work(inbound["product"][-1], inbound["raw"][-1], "inbound")
            _progress(f"repeat {n + 1}/{repeat}: inbound product and naive, {naive_documents} documents")
            inbound["product_small"].append(product_inbound(host, work, naive_documents, page_size, s, bad_fraction))
            inbound["naive"].append(naive_inbound(host, work, naive_documents, page_size, s, bad_fraction))
            for which in order:
                _progress(f"repeat {n + 1}/{repeat}: outbound {which}, {outbound_documents} invoices")
                fn = product_outbound if which == "product" else raw_outbound
                outbound[which].append(fn(host, work, outbound_documents, page_size, s))
            _assert_same_work(outbound["product"][-1], outbound["raw"][-1], "outbound")
            if qbo_documents:
                for which in order:
                    _progress(f"repeat {n + 1}/{repeat}: SPS -> QBO {which}, {qbo_documents} documents")
                    fn = product_sps_qbo if which == "product" else raw_qbo
                    to_qbo[which].append(fn(host, work, qbo_documents, page_size, s))
                _assert_same_work(to_qbo["product"][-1], to_qbo["raw"][-1], "sps-qbo")
        memory = []
        for size in memory_sizes:
            _progress(f"peak memory: product flow in a subprocess, {size} documents")
            memory.append(measure_memory(host, work, size, page_size, seed))
        webhook = []
        if webhook_events and qbo_documents:
            for poll in webhook_polls:
                _progress(f"webhook-to-posted: {webhook_events} QBO notifications, runner polling every {poll} s")
                webhook.append(measure_webhook_latency(host, work, webhook_events, poll))
        memory_raw_runs = []
        if memory_raw:
            for size in memory_sizes:
                _progress(f"peak memory: raw pipeline in a subprocess, {size} documents")
                memory_raw_runs.append(measure_memory(host, work, size, page_size, seed, path="raw"))
    report = _report(inbound, outbound, to_qbo, memory, memory_raw_runs, webhook)
    report["config"] = dict(documents=documents, naive_documents=naive_documents,
                            outbound_documents=outbound_documents, qbo_documents=qbo_documents,
                            page_size=page_size, repeat=repeat,
                            memory_sizes=list(memory_sizes), seed=seed, bad_fraction=bad_fraction, quick=quick,
                            latency_ms=latency_ms, webhook_events=webhook_events, webhook_polls=list(webhook_polls))
    report["machine"] = dict(cpus=os.cpu_count(), python=platform.python_version(), prefect=_prefect_version(),
                             loadavg_at_start=[round(x, 2) for x in load_start],
                             loadavg_at_end=[round(x, 2) for x in os.getloadavg()],
                             date=time.strftime("%Y-%m-%d"))
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def _prefect_version() -> str:
    import prefect

    return prefect.__version__


def _report(inbound: dict, outbound: dict, to_qbo: dict, memory: list[dict], memory_raw: list[dict],
            webhook: list[dict]) -> dict:
    product, raw = _summary(inbound["product"]), _summary(inbound["raw"])
    small, naive = _summary(inbound["product_small"]), _summary(inbound["naive"])
    to_raw, to_raw_runs = _paired_ratio(inbound["product"], inbound["raw"])
    to_naive, to_naive_runs = _paired_ratio(inbound["product_small"], inbound["naive"])
    out_product, out_raw = _summary(outbound["product"]), _summary(outbound["raw"])
    out_ratio, out_ratio_runs = _paired_ratio(outbound["product"], outbound["raw"])
    same = all(all(p[k] == r[k] for k in ("intacct_requests", "qbo_requests", "sps_requests"))
               for p, r in zip(inbound["product"] + outbound["product"] + to_qbo["product"],
                               inbound["raw"] + outbound["raw"] + to_qbo["raw"]))
    peak = {
        "sizes": [m["documents"] for m in memory],
        "runs": memory,
        "peak_rss_mb": [m["peak_rss_mb"] for m in memory],
        "ratio_peak_large_to_small": round(memory[-1]["peak_rss_mb"] / memory[0]["peak_rss_mb"], 3),
        "ratio_growth_large_to_small": (round(memory[-1]["growth_mb"] / memory[0]["growth_mb"], 2)
                                        if memory[0]["growth_mb"] > 0 else None),
    }
    if memory_raw:
        peak["raw_runs"] = memory_raw
        peak["raw_ratio_peak_large_to_small"] = round(memory_raw[-1]["peak_rss_mb"] / memory_raw[0]["peak_rss_mb"], 3)
    intacct_per_doc = product["intacct_requests_per_posted_doc"]
    report = {
        "inbound": {
            "integration": "sps-intacct",
            "product": product,
            "raw": raw,
            "product_at_naive_size": small,
            "naive": naive,
            "docs_per_second": {"product": product["docs_per_second"], "raw": raw["docs_per_second"],
                                "product_at_naive_size": small["docs_per_second"], "naive": naive["docs_per_second"]},
            "ratio_product_to_raw": to_raw,
            "ratio_product_to_raw_runs": to_raw_runs,
            "ratio_product_to_naive": to_naive,
            "ratio_product_to_naive_runs": to_naive_runs,
            "requests_per_posted_doc": {
                "product": {"intacct": intacct_per_doc, "sps": product["sps_requests_per_posted_doc"]},
                "raw": {"intacct": raw["intacct_requests_per_posted_doc"], "sps": raw["sps_requests_per_posted_doc"]},
                "naive": {"intacct": naive["intacct_requests_per_posted_doc"],
                          "sps": naive["sps_requests_per_posted_doc"]},
            },
            "request_counts_equal": same,
            "prefect_task_runs_per_1000_docs": {"product": product["prefect_task_runs_per_1000_docs"],
                                                "naive": naive["prefect_task_runs_per_1000_docs"]},
            "peak_memory": peak,
            "webhook_to_posted_latency": WEBHOOK_POLLED,
        },
        "outbound": {
            "integration": "intacct-sps",
            "product": out_product,
            "raw": out_raw,
            "docs_per_second": {"product": out_product["docs_per_second"], "raw": out_raw["docs_per_second"]},
            "ratio_product_to_raw": out_ratio,
            "ratio_product_to_raw_runs": out_ratio_runs,
            "requests_per_posted_doc": {"intacct": out_product["intacct_requests_per_posted_doc"],
                                        "sps": out_product["sps_requests_per_posted_doc"]},
            "prefect_task_runs_per_1000_docs": out_product["prefect_task_runs_per_1000_docs"],
            "webhook_to_posted_latency": WEBHOOK_POLLED,
        },
    }
    report["qbo_sps_webhook"] = {
        "integration": "qbo-sps",
        "path": "signed QBO notification -> webhook service (HTTP) -> run_deployment -> qbo-to-sps deployment "
                "served by flow.serve in its own process -> RSX invoice in SPS",
        "webhook_to_posted_latency": webhook[0] if webhook else WEBHOOK_SKIPPED,
        "by_runner_poll_seconds": {str(w["runner_poll_seconds"]): w for w in webhook},
    }
    webhook_p50 = webhook[0]["p50_seconds"] if webhook else WEBHOOK_SKIPPED
    qbo_per_doc = None
    if to_qbo["product"]:
        q_product, q_raw = _summary(to_qbo["product"]), _summary(to_qbo["raw"])
        q_ratio, q_ratio_runs = _paired_ratio(to_qbo["product"], to_qbo["raw"])
        qbo_per_doc = q_product["qbo_requests_per_posted_doc"]
        report["sps_qbo"] = {
            "integration": "sps-qbo",
            "product": q_product,
            "raw": q_raw,
            "docs_per_second": {"product": q_product["docs_per_second"], "raw": q_raw["docs_per_second"]},
            "ratio_product_to_raw": q_ratio,
            "ratio_product_to_raw_runs": q_ratio_runs,
            "requests_per_posted_doc": {"qbo": qbo_per_doc, "sps": q_product["sps_requests_per_posted_doc"]},
            "prefect_task_runs_per_1000_docs": q_product["prefect_task_runs_per_1000_docs"],
            "note": "posted = purchase orders (only RSX orders post; invoices and shipments are skipped)",
        }
    report["targets"] = [
        _target("inbound product / raw throughput", to_raw, ">=", TARGET_PRODUCT_TO_RAW),
        _target("inbound product / naive throughput", to_naive, ">=", TARGET_PRODUCT_TO_NAIVE),
        _target("Intacct requests per posted document (inbound)", intacct_per_doc, "<=", TARGET_INTACCT_REQ_PER_DOC),
        _target("QuickBooks requests per posted document (SPS -> QBO)", qbo_per_doc if qbo_per_doc is not None
                else QBO_NA, "<=", TARGET_QBO_REQ_PER_DOC),
        _target(f"peak memory {peak['sizes'][-1]} / {peak['sizes'][0]} documents",
                peak["ratio_peak_large_to_small"], "<=", TARGET_PEAK_RATIO),
        _target("webhook-to-posted p50 (s), QBO -> SPS" + (f", runner polling every {webhook[0]['runner_poll_seconds']} s"
                                                            if webhook else ""), webhook_p50, "<", TARGET_WEBHOOK_P50_S),
    ]
    return report


def _target(name: str, value, op: str, target: float) -> dict:
    if not isinstance(value, (int, float)) or value is None:
        met = None
    else:
        met = value >= target if op == ">=" else value <= target if op == "<=" else value < target
    return {"name": name, "value": value, "target": f"{op} {target:g}", "met": met}


def print_report(r: dict) -> None:
    i, o, c = r["inbound"], r["outbound"], r["config"]
    mem = i["peak_memory"]
    print(f"ml-connector benchmark, {r['machine']['date']}, {r['machine']['cpus']} CPUs, Prefect "
          f"{r['machine']['prefect']}, median of {c['repeat']} (load average {r['machine']['loadavg_at_start'][0]} "
          f"at start, {r['machine']['loadavg_at_end'][0]} at end)")
    if c.get("latency_ms"):
        print(f"every emulator request delayed by {c['latency_ms']} ms (--latency-ms)")
    print(f"\nSPS -> Intacct (inbound), pages of {c['page_size']}:")
    rows = [
        ("product (flow through Prefect)", c["documents"], i["product"]),
        ("raw (same calls, no Prefect)", c["documents"], i["raw"]),
        ("product, at the naive size", c["naive_documents"], i["product_at_naive_size"]),
        ("naive (a task per document per step)", c["naive_documents"], i["naive"]),
    ]
    print(f"  {'path':40} {'docs':>7} {'docs/s':>9} {'Intacct req/doc':>16} {'SPS req/doc':>12} {'tasks/1000':>11}")
    for label, n, s in rows:
        print(f"  {label:40} {n:>7} {s['docs_per_second']:>9} {s['intacct_requests_per_posted_doc']:>16} "
              f"{s['sps_requests_per_posted_doc']:>12} {s.get('prefect_task_runs_per_1000_docs', '-'):>11}")
    print(f"  request counts product == raw: {i['request_counts_equal']}")
    print("  peak RSS of the product flow process: " + ", ".join(
        f"{m['documents']} docs {m['peak_rss_mb']} MB (baseline {m['baseline_rss_mb']}, +{m['growth_mb']}, "
        f"{m['docs_per_second']} docs/s)" for m in mem["runs"]))
    if "raw_runs" in mem:
        print("  peak RSS of the raw pipeline process:  " + ", ".join(
            f"{m['documents']} docs {m['peak_rss_mb']} MB (+{m['growth_mb']})" for m in mem["raw_runs"]))
    print(f"  webhook-to-posted latency: {i['webhook_to_posted_latency']}")
    print(f"\nIntacct -> SPS (outbound), {c['outbound_documents']} AR invoices:")
    for label, s in (("product (flow through Prefect)", o["product"]), ("raw (same calls, no Prefect)", o["raw"])):
        print(f"  {label:40} {s['docs_per_second']:>9} docs/s  Intacct req/doc {s['intacct_requests_per_posted_doc']}"
              f"  SPS req/doc {s['sps_requests_per_posted_doc']}")
    print(f"  product / raw {o['ratio_product_to_raw']}, Prefect task runs / 1,000 docs "
          f"{o['prefect_task_runs_per_1000_docs']}")
    if "sps_qbo" in r:
        q = r["sps_qbo"]
        print(f"\nSPS -> QuickBooks Online, {c['qbo_documents']} RSX files ({q['product']['posted']} orders post "
              f"as purchase orders; the rest are skipped):")
        for label, s in (("product (flow through Prefect)", q["product"]), ("raw (same calls, no Prefect)", q["raw"])):
            print(f"  {label:40} {s['docs_per_second']:>9} POs/s  QBO req/PO {s['qbo_requests_per_posted_doc']}"
                  f"  SPS req/PO {s['sps_requests_per_posted_doc']}")
        print(f"  product / raw {q['ratio_product_to_raw']}, Prefect task runs / 1,000 docs "
              f"{q['prefect_task_runs_per_1000_docs']}")
    w = r["qbo_sps_webhook"]
    print("\nQBO -> SPS webhook-to-posted latency (notification POSTed to the webhook service until its RSX "
          "invoice is in SPS):")
    if not w["by_runner_poll_seconds"]:
        print(f"  {w['webhook_to_posted_latency']}")
    for poll, m in w["by_runner_poll_seconds"].items():
        print(f"  runner polling every {poll:>2} s: p50 {m['p50_seconds']} s, p95 {m['p95_seconds']} s over "
              f"{m['events']} events (webhook answered in {m['webhook_ack_ms_p50']} ms; per run: waiting for pickup "
              f"{m['scheduled_to_pending_s_p50']} s, process start {m['pending_to_running_s_p50']} s, "
              f"the run {m['running_to_completed_s_p50']} s)")
    print("\nTargets (issue 9):")
    print(f"  {'figure':54} {'measured':>26} {'target':>10}  met")
    for t in r["targets"]:
        met = {True: "yes", False: "NO", None: "-"}[t["met"]]
        print(f"  {t['name']:54} {str(t['value']):>26} {t['target']:>10}  {met}")
    print(f"\n  ({r['seconds']} s in all)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, help="inbound documents for product vs raw (default 2000)")
    parser.add_argument("--naive-documents", type=int, help="documents for product vs naive (default 300)")
    parser.add_argument("--outbound-documents", type=int, help="AR invoices for the outbound flow (default 2000)")
    parser.add_argument("--qbo-documents", type=int, help="RSX files for SPS -> QBO (default 2000; 0 skips it)")
    parser.add_argument("--webhook-events", type=int, help="QBO notifications timed end to end (default 10; 0 skips)")
    parser.add_argument("--webhook-polls", help="runner poll intervals to time them under (default 10,1)")
    parser.add_argument("--page-size", type=int)
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--memory-sizes", help="two sizes, comma-separated (default 10000,100000)")
    parser.add_argument("--memory-raw", action="store_true", help="also measure the raw pipeline's peak memory")
    parser.add_argument("--bad-fraction", type=float, default=0.0, help="share of broken inbound files")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="delay every emulator request by this much, like a WAN round trip (default 0)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on the last line")
    parser.add_argument("--emulator-host", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-qbo-to-sps", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-path", default="product", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.emulator_host:
        return emulator_host_main()
    if args.serve_qbo_to_sps:
        return serve_qbo_to_sps_main()
    if args.memory_child is not None:
        return memory_child_main(args.memory_child, args.page_size or 500, args.memory_path)

    sizes = dict(QUICK if args.quick else FULL)
    for key in ("documents", "naive_documents", "outbound_documents", "qbo_documents", "page_size", "repeat",
                "webhook_events"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    if args.memory_sizes:
        sizes["memory_sizes"] = tuple(int(x) for x in args.memory_sizes.split(","))
    if args.webhook_polls:
        sizes["webhook_polls"] = tuple(int(x) for x in args.webhook_polls.split(","))

    from ml_connector.demo import prefect_api, prepare_environment

    prepare_environment(Path(tempfile.mkdtemp(prefix="mlc-bench-home-")))
    with prefect_api():
        report = run_suite(**sizes, seed=args.seed, bad_fraction=args.bad_fraction, quick=args.quick,
                           memory_raw=args.memory_raw, latency_ms=args.latency_ms)
    print_report(report)
    if args.json:
        print(json.dumps(report, sort_keys=True, default=str))
    missing = report["inbound"]["product"]["missing"] + report["outbound"]["product"]["missing"]
    return 0 if missing == 0 and report["inbound"]["request_counts_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
