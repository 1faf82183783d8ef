"""The issue 9 prototypes' harness: the SPS -> Intacct and Intacct -> SPS paths side by side on
the same data, in a rotating order per repeat, medians quoted. Variants:

  product            the flow as shipped (``sps_to_intacct``)
  raw                the same pipeline run by the engine's loop without Prefect
                     (``bench.raw_pipelines.raw_sps_to_intacct``)
  naive              a Prefect task per document per step (``bench.naive``), with ``--naive``
  outbound           Intacct -> SPS, the flow as shipped (``intacct_to_sps``)
  outbound-raw       its raw run (``bench.raw_pipelines.raw_intacct_to_sps``)

Every variant of one direction sends exactly the same HTTP requests as the first (asserted).

The optimizations prototyped here for issue 9 are all in the product now: ``opaque`` page,
payload and id arguments (the prototypes' ``quote``), no cache key per task, downloads and
deletes on a bounded pool with the next page fetched while the current one is recorded and
posted (``pipelines/sps_out.py``), and ``Ledger.record_outcomes`` as executemany UPDATEs. Their
copies of the old flow bodies went with the flows' port onto the engine; what they measured is
in ``results/2026-11-22.txt``.

    python benchmarks/prototypes.py --documents 2000 --repeat 3
    python benchmarks/prototypes.py --documents 300 --naive --latency-ms 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench import TENANT  # noqa: E402
from bench.emulator_host import EmulatorHost  # noqa: E402
from bench.naive import naive_flow  # noqa: E402
from bench.raw_pipelines import raw_intacct_to_sps, raw_sps_to_intacct  # noqa: E402
from bench.suite import progress  # noqa: E402
from bench.world import finish, fresh_world  # noqa: E402

# -- measuring ----------------------------------------------------------------------------------------


def variants() -> dict:
    from ml_connector.flows.intacct_to_sps import intacct_to_sps
    from ml_connector.flows.sps_to_intacct import sps_to_intacct

    return {
        "product": ("flow", sps_to_intacct),
        "raw": ("raw", raw_sps_to_intacct),
        "naive": ("flow", naive_flow()),
        "outbound": ("flow", intacct_to_sps),
        "outbound-raw": ("raw", raw_intacct_to_sps),
    }


def measure(host, work: Path, name: str, documents: int, page_size: int, seed: int) -> dict:
    kind, fn = variants()[name]
    if name.startswith("outbound"):
        world = fresh_world(host, work, ar_invoices=documents, seed=seed)
    else:
        world = fresh_world(host, work, documents=documents, seed=seed)
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
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--variants", default="product,raw,outbound,outbound-raw")
    parser.add_argument("--naive", action="store_true", help="also run the naive design at the same size")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
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
    print(f"{args.documents} documents, pages of {args.page_size}, "
          f"latency {args.latency_ms} ms per request, median of {args.repeat}:")
    for name, s in summary.items():
        extras = "  ".join(f"{k} {v}" for k, v in s.items() if k.startswith("vs_"))
        print(f"  {name:18} {s['docs_per_second']:>8} docs/s   {extras}   runs {s['runs']}")
    if args.json:
        print(json.dumps({"config": vars(args), "summary": summary}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
