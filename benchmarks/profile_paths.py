"""Where the time goes: cProfile of the product flow and the raw pipeline on the same data.

Uses the harness of ``run.py`` (``bench/``) (emulators in their own process, served over HTTP; a local
Prefect server). For each path it prints wall time, the CPU time of the main thread and of
the whole process (Prefect's background threads: events, logs, the API client's loop), the
profiled main-thread time by package, and the top functions.

    python benchmarks/profile_paths.py --documents 2000 --out /tmp/mlc-profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent


if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench import TENANT  # noqa: E402
from bench.emulator_host import EmulatorHost  # noqa: E402
from bench.raw_pipelines import raw_sps_to_intacct  # noqa: E402
from bench.world import fresh_world  # noqa: E402

PACKAGES = (  # first match wins
    ("ml_connector/connectors", "ml_connector.connectors (HTTP, codecs)"),
    ("ml_connector/mappings", "ml_connector.mappings"),
    ("ml_connector/ledger", "ml_connector.ledger"),
    ("ml_connector", "ml_connector (tasks, flows, rest)"),
    ("/prefect/", "prefect"),
    ("/pydantic", "pydantic"),
    ("/sqlalchemy/", "sqlalchemy"),
    ("sqlite3", "sqlite3"),
    ("/httpx/", "httpx"),
    ("/httpcore/", "httpcore"),
    ("/lxml/", "lxml"),
    ("/cloudpickle/", "cloudpickle"),
    ("/anyio/", "anyio"),
    ("/opentelemetry/", "opentelemetry"),
    ("<method 'recv_into'", "socket I/O (waiting for the emulators)"),
    ("<method 'sendall'", "socket I/O (waiting for the emulators)"),
    ("<built-in method _socket", "socket I/O (waiting for the emulators)"),
    ("<method 'execute' of 'sqlite3", "sqlite3"),
    ("<method 'commit' of 'sqlite3", "sqlite3"),
    ("<built-in method time.sleep", "sleep"),
    ("<method 'acquire' of '_thread", "waiting on locks/threads"),
    ("<method 'wait' of", "waiting on locks/threads"),
)


def by_package(stats: pstats.Stats) -> dict[str, float]:
    """Profiled time (tottime) grouped by the package of the function it was spent in."""
    out: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        label = f"{filename}:{name}" if filename != "~" else name
        for needle, group in PACKAGES:
            if needle in label:
                out[group] += tottime
                break
        else:
            out["other (stdlib, builtins)"] += tottime
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def profiled(label: str, fn, out_dir: Path, top: int) -> dict:
    profile = cProfile.Profile()
    wall0, cpu0, thread0 = time.perf_counter(), time.process_time(), time.thread_time()
    profile.enable()
    result = fn()
    profile.disable()
    wall, cpu, thread = time.perf_counter() - wall0, time.process_time() - cpu0, time.thread_time() - thread0
    path = out_dir / f"{label}.prof"
    profile.dump_stats(path)
    stats = pstats.Stats(profile)
    groups = by_package(stats)
    total = sum(groups.values()) or 1.0
    print(f"\n=== {label}: {wall:.2f} s wall, {thread:.2f} s CPU in the main thread, "
          f"{cpu - thread:.2f} s CPU in other threads ({path})")
    for group, seconds in groups.items():
        if seconds / total >= 0.005:
            print(f"  {seconds:8.2f} s {100 * seconds / total:5.1f}%  {group}")
    for order in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(profile, stream=buf).strip_dirs().sort_stats(order).print_stats(top)
        lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
        start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
        print(f"  -- top {top} by {order}")
        for ln in lines[start:]:
            print("  " + ln)
    return {"wall": wall, "cpu_main": thread, "cpu_other": cpu - thread, "groups": groups, "result": result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", default=None, help="folder for the .prof files")
    parser.add_argument("--paths", default="product,raw")
    args = parser.parse_args(argv)
    out_dir = Path(args.out or tempfile.mkdtemp(prefix="mlc-profile-"))
    out_dir.mkdir(parents=True, exist_ok=True)

    from ml_connector.demo import prefect_api, prepare_environment

    prepare_environment(Path(tempfile.mkdtemp(prefix="mlc-profile-home-")))
    with prefect_api(), EmulatorHost() as host:
        from ml_connector.flows.sps_to_intacct import sps_to_intacct

        work = Path(tempfile.mkdtemp(prefix="mlc-profile-work-"))
        fresh_world(host, work, documents=20, seed=3)  # warm up: imports, first flow run
        sps_to_intacct(tenant=TENANT, page_size=args.page_size, return_state=True)
        for path in args.paths.split(","):
            fresh_world(host, work, documents=args.documents, seed=11)
            if path == "product":
                fn = lambda: sps_to_intacct(tenant=TENANT, page_size=args.page_size, return_state=True).result()  # noqa: E731
            else:
                fn = lambda: raw_sps_to_intacct(TENANT, args.page_size)  # noqa: E731
            res = profiled(path, fn, out_dir, args.top)
            print(f"  posted {res['result'].get('posted')}, {host.call('stats')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
