"""The suite: every measurement of one run, repeated with the order of product and raw
alternating, each pair checked for equal work (the raw pipeline must send the same requests
and leave the same ledger counts as the product), and the report built from the runs."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from . import world
from .emulator_host import EmulatorHost
from .memory import measure_memory
from .report import build_report
from .throughput import (
    naive_inbound,
    product_inbound,
    product_outbound,
    product_sps_qbo,
    raw_inbound,
    raw_outbound,
    raw_qbo,
)
from .webhook import measure_adobe_webhook_latency, measure_webhook_latency

FULL = dict(documents=2000, naive_documents=300, outbound_documents=2000, qbo_documents=2000, page_size=500,
            repeat=3, memory_sizes=(10_000, 100_000), webhook_events=10, webhook_polls=(1,),
            wan_latency_ms=50.0, wan_documents=2000, wan_naive_documents=200)
QUICK = dict(documents=60, naive_documents=12, outbound_documents=40, qbo_documents=60, page_size=25, repeat=1,
             memory_sizes=(40, 200), webhook_events=0, webhook_polls=(10,),
             wan_latency_ms=20.0, wan_documents=40, wan_naive_documents=6)


def run_suite(*, documents: int, naive_documents: int, outbound_documents: int, qbo_documents: int, page_size: int,
              repeat: int, memory_sizes: tuple[int, ...], seed: int = 11, bad_fraction: float = 0.0,
              quick: bool = False, memory_raw: bool = False, latency_ms: float = 0.0, webhook_events: int = 0,
              webhook_polls: tuple[float, ...] = (10,), wan_latency_ms: float = 0.0, wan_documents: int = 0,
              wan_naive_documents: int = 0) -> dict:
    """Run every measurement once per repeat (product and raw alternate which goes first) and
    return the report. Needs a Prefect API (``prefect_api()``, or a test's server).

    ``wan_latency_ms`` > 0 repeats the SPS -> Intacct product, raw and naive runs with every
    emulator request delayed that long (a WAN round trip, as the real APIs are reached), on
    ``wan_documents`` and ``wan_naive_documents``: on loopback the request is nearly free, so
    only CPU is compared; over a WAN the waiting dominates, as it does in production."""
    config = dict(documents=documents, naive_documents=naive_documents, outbound_documents=outbound_documents,
                  qbo_documents=qbo_documents, page_size=page_size, repeat=repeat, memory_sizes=list(memory_sizes),
                  seed=seed, bad_fraction=bad_fraction, quick=quick, latency_ms=latency_ms,
                  webhook_events=webhook_events, webhook_polls=list(webhook_polls), wan_latency_ms=wan_latency_ms,
                  wan_documents=wan_documents, wan_naive_documents=wan_naive_documents)
    work = Path(tempfile.mkdtemp(prefix="mlc-bench-"))
    world.SETTLE_SECONDS["value"] = 1.0 if quick else 3.0
    load_start, started = os.getloadavg(), time.monotonic()
    runs: dict[str, dict[str, list]] = {"inbound": {"product": [], "raw": [], "product_small": [], "naive": []},
                                        "outbound": {"product": [], "raw": []}, "sps_qbo": {"product": [], "raw": []},
                                        "inbound_wan": {"product": [], "raw": [], "product_small": [], "naive": []}}
    with EmulatorHost(latency_ms) as host:
        if not quick:  # --quick checks that everything runs, not how fast
            progress("warming up (a small product and raw run, not counted)")
            product_inbound(host, work, min(20, documents), page_size, seed)
            raw_inbound(host, work, min(20, documents), page_size, seed)
        for n in range(repeat):
            _one_repeat(host, work, n, repeat, runs, config)
        memory = [_memory(host, work, size, config, "product") for size in memory_sizes]
        webhook = []
        if webhook_events and qbo_documents:  # the default path first (the service with its own worker)
            progress(f"webhook-to-posted: {webhook_events} QBO notifications, default path (task-worker dispatch)")
            webhook.append(measure_webhook_latency(host, work, webhook_events, dispatch="task-worker"))
            progress(f"webhook-to-posted: {webhook_events} Adobe Commerce orders -> Intacct AP bills, default path")
            webhook.append(measure_adobe_webhook_latency(host, work, webhook_events))
            for poll in webhook_polls:
                progress(f"webhook-to-posted: {webhook_events} QBO notifications, trigger path, "
                         f"runner polling every {poll} s")
                webhook.append(measure_webhook_latency(host, work, webhook_events, poll))
        memory_raw_runs = [_memory(host, work, size, config, "raw") for size in memory_sizes] if memory_raw else []
    if wan_latency_ms and wan_documents:
        with EmulatorHost(wan_latency_ms) as wan_host:
            for n in range(repeat):
                _one_repeat(wan_host, work, n, repeat, runs, config, wan=True)
    report = build_report(runs["inbound"], runs["outbound"], runs["sps_qbo"], memory, memory_raw_runs, webhook,
                          inbound_wan=runs["inbound_wan"] if runs["inbound_wan"]["product"] else None,
                          wan_latency_ms=wan_latency_ms)
    report["config"] = config
    report["machine"] = dict(cpus=os.cpu_count(), python=platform.python_version(), prefect=_prefect_version(),
                             loadavg_at_start=[round(x, 2) for x in load_start],
                             loadavg_at_end=[round(x, 2) for x in os.getloadavg()],
                             date=time.strftime("%Y-%m-%d"))
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def _one_repeat(host: EmulatorHost, work: Path, n: int, repeat: int, runs: dict, c: dict, *, wan: bool = False) -> None:
    """Product and raw of each integration back to back (their order alternating per repeat, so
    neither always runs on the warmer machine), then the product and naive at the naive size.
    ``wan``: SPS -> Intacct only, at the WAN sizes, on a host that delays every request."""
    seed, page_size = c["seed"] + n, c["page_size"]
    order = ("product", "raw") if n % 2 == 0 else ("raw", "product")
    if wan:
        pairs = [("inbound_wan", product_inbound, raw_inbound, c["wan_documents"], "documents")]
    else:
        pairs = [("inbound", product_inbound, raw_inbound, c["documents"], "documents")]
        pairs.append(("outbound", product_outbound, raw_outbound, c["outbound_documents"], "AR invoices"))
        if c["qbo_documents"]:
            pairs.append(("sps_qbo", product_sps_qbo, raw_qbo, c["qbo_documents"], "RSX files"))
    for section, product_fn, raw_fn, size, unit in pairs:
        extra = (c["bad_fraction"],) if section.startswith("inbound") else ()
        for which in order:
            progress(f"repeat {n + 1}/{repeat}: {section} {which}, {size} {unit}")
            fn = product_fn if which == "product" else raw_fn
            runs[section][which].append(fn(host, work, size, page_size, seed, *extra))
            progress(f"  {runs[section][which][-1]['docs_per_second']} docs/s")
        assert_same_work(runs[section]["product"][-1], runs[section]["raw"][-1], section)
        if section.startswith("inbound"):
            small = c["wan_naive_documents"] if wan else c["naive_documents"]
            progress(f"repeat {n + 1}/{repeat}: {section} product and naive, {small} documents")
            runs[section]["product_small"].append(product_inbound(host, work, small, page_size, seed, *extra))
            runs[section]["naive"].append(naive_inbound(host, work, small, page_size, seed, *extra))
            progress(f"  product {runs[section]['product_small'][-1]['docs_per_second']} docs/s, "
                     f"naive {runs[section]['naive'][-1]['docs_per_second']} docs/s")


def _memory(host: EmulatorHost, work: Path, size: int, c: dict, path: str) -> dict:
    progress(f"peak memory: {path} in a subprocess, {size} documents")
    return measure_memory(host, work, size, c["page_size"], c["seed"], path=path)


def _prefect_version() -> str:
    import prefect

    return prefect.__version__


def assert_same_work(product: dict, raw: dict, label: str) -> None:
    """The raw pipeline must do what the product does: same requests, same ledger outcome."""
    for key in ("intacct_requests", "qbo_requests", "sps_requests"):
        if product[key] != raw[key]:
            raise RuntimeError(f"{label}: {key} differ, product {product[key]} != raw {raw[key]}")
    # The product also reports what only a run of a flow can do (documents a retried run
    # re-attempted): compare the outcomes both pipelines report.
    shared = product["counts"].keys() & raw["counts"].keys()
    if {k: product["counts"][k] for k in shared} != {k: raw["counts"][k] for k in shared}:
        raise RuntimeError(f"{label}: ledger counts differ: {product['counts']} != {raw['counts']}")


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
