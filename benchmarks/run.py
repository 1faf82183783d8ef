"""Benchmark suite: the product against the raw pipeline and the naive design, with the targets.

Everything runs against the sandbox served over real HTTP (uvicorn, ``sandbox/serve.py``), the
emulators in a process of their own (``bench/emulator_host.py``). One run measures:

* SPS -> Intacct (inbound): **product** (the deployed flow path, ``sps_to_intacct`` on a local
  Prefect server, with ledger and dedup), **raw** (the engine's loop over the same pipeline
  without Prefect, ``bench/raw_pipelines.py``; the HTTP request counts and the ledger counts must equal the
  product's, checked on every repeat) and **naive** (a Prefect task per document per step,
  ``bench/naive.py``, at a smaller size); peak memory at two sizes (``bench/memory.py``);
* the same SPS -> Intacct product, raw and naive again with every emulator request delayed
  ``--wan-latency-ms`` (default 50 ms, a WAN round trip): on loopback a request costs only CPU,
  while the real APIs are reached over a network, where waiting dominates;
* Intacct -> SPS (outbound) and SPS -> QuickBooks Online: product and raw;
* QBO -> SPS: webhook-to-posted latency through the deployment trigger, by phase
  (``bench/webhook.py``);

and reports documents per second, the ratios product/raw and product/naive (medians of the
per-repeat paired ratios), HTTP requests per posted document per target system, Prefect task
runs per 1,000 documents, peak RSS and latency, beside the targets of issue 9.

    python benchmarks/run.py                     # full run (about half an hour)
    python benchmarks/run.py --quick --json      # tiny sizes, well under a minute
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()
if str(HERE.parent) not in sys.path:  # loaded by path (tests, prototypes): make ``bench`` importable
    sys.path.insert(0, str(HERE.parent))

from bench.emulator_host import EmulatorHost, emulator_host_main  # noqa: E402
from bench.memory import memory_child_main  # noqa: E402
from bench.report import print_report  # noqa: E402
from bench.suite import FULL, QUICK, run_suite  # noqa: E402
from bench.webhook import PHASES, measure_webhook_latency, serve_qbo_to_sps_main  # noqa: E402

__all__ = ["EmulatorHost", "FULL", "PHASES", "QUICK", "main", "measure_webhook_latency", "run_suite"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, help="inbound documents for product vs raw (default 2000)")
    parser.add_argument("--naive-documents", type=int, help="documents for product vs naive (default 300)")
    parser.add_argument("--outbound-documents", type=int, help="AR invoices for the outbound flow (default 2000)")
    parser.add_argument("--qbo-documents", type=int, help="RSX files for SPS -> QBO (default 2000; 0 skips it)")
    parser.add_argument("--webhook-events", type=int, help="QBO notifications timed end to end (default 10; 0 skips)")
    parser.add_argument("--webhook-polls", help="runner poll intervals (s) to time the trigger path under (default 1)")
    parser.add_argument("--page-size", type=int)
    parser.add_argument("--repeat", type=int)
    parser.add_argument("--memory-sizes", help="two sizes, comma-separated (default 10000,100000)")
    parser.add_argument("--memory-raw", action="store_true", help="also measure the raw pipeline's peak memory")
    parser.add_argument("--bad-fraction", type=float, default=0.0, help="share of broken inbound files")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="delay every emulator request by this much, like a WAN round trip (default 0)")
    parser.add_argument("--wan-latency-ms", type=float,
                        help="also run SPS -> Intacct product/raw/naive with every request delayed this much "
                             "(default 50; 0 skips)")
    parser.add_argument("--wan-documents", type=int, help="inbound documents for the WAN product vs raw (default 2000)")
    parser.add_argument("--wan-naive-documents", type=int, help="documents for the WAN product vs naive (default 200)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on the last line")
    # child modes: the processes the suite starts
    parser.add_argument("--emulator-host", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-path", default="product", help=argparse.SUPPRESS)
    parser.add_argument("--serve-qbo-to-sps", action="store_true", help=argparse.SUPPRESS)
    return parser


def _sizes(args: argparse.Namespace) -> dict:
    sizes = dict(QUICK if args.quick else FULL)
    for key in ("documents", "naive_documents", "outbound_documents", "qbo_documents", "page_size", "repeat",
                "webhook_events", "wan_latency_ms", "wan_documents", "wan_naive_documents"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    if args.memory_sizes:
        sizes["memory_sizes"] = tuple(int(x) for x in args.memory_sizes.split(","))
    if args.webhook_polls:
        sizes["webhook_polls"] = tuple(float(x) for x in args.webhook_polls.split(","))
    return sizes


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.emulator_host:
        return emulator_host_main()
    if args.serve_qbo_to_sps:
        return serve_qbo_to_sps_main()
    if args.memory_child is not None:
        return memory_child_main(args.memory_child, args.page_size or 500, args.memory_path)

    from ml_connector.demo import prefect_api, prepare_environment

    prepare_environment(Path(tempfile.mkdtemp(prefix="mlc-bench-home-")))
    with prefect_api():
        report = run_suite(**_sizes(args), seed=args.seed, bad_fraction=args.bad_fraction, quick=args.quick,
                           memory_raw=args.memory_raw, latency_ms=args.latency_ms)
    print_report(report)
    if args.json:
        print(json.dumps(report, sort_keys=True, default=str))
    missing = sum(report[s]["product"]["missing"] for s in ("inbound", "outbound", "sps_qbo") if s in report)
    return 0 if missing == 0 and report["inbound"]["request_counts_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
