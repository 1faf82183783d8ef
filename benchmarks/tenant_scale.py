"""Tenant scale: what an empty poll costs, and how many tenants one machine serves.

Everything runs on this machine as in production: a Prefect server (``prefect server start``,
SQLite) and a process worker, the deployments of prefect.yaml (``prefect deploy --all``, then
paused so only this script starts runs), the sandbox's five emulators served over HTTP in a
process of their own (they stand for the external systems, so their CPU is reported apart and
not counted). Every tenant configures every polled integration (bench/tenant_world.py).

Figures:

1. one empty poll (a run that finds nothing new) of sps-to-intacct and intacct-to-sps:
   in-process (the tenant's flow run itself; and the fan-out's check of one idle tenant), and as
   deployment runs through the process worker: the model this replaced (a deployment that runs
   one tenant's flow), the fan-out naming one tenant (its subflow always runs), and the fan-out's
   scheduled poll of N idle tenants, whose cost per tenant is the run's divided by N. Worker host
   CPU is the worker's process tree (the flow run processes included), server CPU the server's,
   over the same window, less the idle rate of both (their own polling and services);
2. load: N tenants x 10 polls (the 8 polled integrations once, sterling-mailbox, every 2
   minutes, twice more), started at once and repeated for several cycles, each a compressed
   5-minute schedule period. A period's CPU is a cycle's server + worker CPU plus the idle rate
   over the rest of the 5 minutes; N fits when that stays under half of the machine's two
   cores (300 of 600 CPU-s), with the cycle done inside the period.

    python benchmarks/tenant_scale.py                        # N = 50, 100, 200, 3 cycles each
    python benchmarks/tenant_scale.py --tenants 2 --cycles 1 --quick   # the smoke test's size
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from bench.tenant_load import (  # noqa: E402 - after the sys.path line above
    Meter,
    Peak,
    deploy_all,
    deploy_per_tenant,
    env_for,
    idle_rate,
    median,
    run_deployments,
    run_span,
    start_worker,
)
from bench.tenant_world import (  # noqa: E402
    Emulators,
    emulators_main,
    set_up_tenants,
    start_prefect_server,
    write_tenant_files,
)

PERIOD_S = 300.0  # the schedule period the load is compressed from
CORES = 2
BUDGET_SHARE = 0.5  # the headroom: a period may use half of the machine
# The polled deployments; sterling-mailbox (every 2 minutes) polls 2.5 times per 5 minutes.
LOAD = ["sps-to-intacct", "intacct-to-sps", "sps-to-qbo", "qbo-to-sps", "intacct-to-sterling", "sterling-mailbox",
        "commerce-to-intacct-ap", "commerce-to-intacct-o2c", "sterling-mailbox", "sterling-mailbox"]
EMPTY_POLL = [("sps-to-intacct", "ml_connector.flows.sps_to_intacct:sps_to_intacct"),
              ("intacct-to-sps", "ml_connector.flows.intacct_to_sps:intacct_to_sps")]


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", default="50,100,200", help="tenant counts to load, comma-separated")
    parser.add_argument("--cycles", type=int, default=3, help="load cycles per tenant count")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each empty-poll figure")
    parser.add_argument("--idle-seconds", type=float, default=60, help="how long the idle rate is measured")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that everything runs")
    parser.add_argument("--json", action="store_true", help="print the report as JSON on the last line")
    parser.add_argument("--emulators", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.emulators:
        return emulators_main()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the server and emulators too
    counts = sorted(int(n) for n in args.tenants.split(","))
    if args.quick:
        args.repeats, args.idle_seconds = 1, 5
    work = Path(tempfile.mkdtemp(prefix="mlc-tenant-scale-"))
    server, api_url = start_prefect_server(work / "prefect")
    emulators = Emulators(HERE)
    try:
        report = _run(args, counts, work, server, api_url, emulators)
    finally:
        emulators.close()
        _stop(server)
        shutil.rmtree(work, ignore_errors=True)
    print_report(report)
    if args.json:
        print(json.dumps(report, sort_keys=True, default=str))
    return 0


def _run(args, counts: list[int], work: Path, server, api_url: str, emulators: Emulators) -> dict:
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    started, load_start = time.time(), os.getloadavg()
    names = [f"t{n:04d}" for n in range(max(counts))]
    write_tenant_files(work / "tenants", names)
    env = env_for(api_url, work / "prefect", work, work / "tenants")
    os.environ.update({k: v for k, v in env.items() if k.startswith(("ML_CONNECTOR_", "PREFECT_"))})
    with temporary_settings(updates={PREFECT_API_URL: api_url, PREFECT_HOME: str(work / "prefect")}):
        progress(f"setting up {len(names)} tenants (blocks for 5 systems, QBO limits)")
        set_up_tenants(emulators, names)
        progress("prefect deploy --all")
        deploy_all(env)
        old = {name: deploy_per_tenant(ref, f"per-tenant-{name}", names[0], str(work)) for name, ref in EMPTY_POLL}
        progress(f"first runs of every integration for {len(names)} tenants (cursors, vendors, partners)")
        worker = start_worker(env, work / "worker-warm-up.log")
        try:
            warm = warm_up(server.pid, worker.pid)
        finally:
            _stop(worker)
        report = {"config": {"tenants": counts, "cycles": args.cycles, "repeats": args.repeats, "quick": args.quick,
                             "period_s": PERIOD_S, "cores": CORES, "budget_share": BUDGET_SHARE, "load": LOAD},
                  "warm_up": warm, "empty_poll": {}, "load": []}
        report["empty_poll"]["in_process"] = in_process_polls(server.pid, args.repeats, names[0], work)
        for n in counts:
            directory = subset(work, names[:n])
            worker = start_worker({**env, "ML_CONNECTOR_TENANTS": str(directory)}, work / f"worker-{n}.log")
            try:
                time.sleep(3)
                idle = idle_rate(server.pid, worker.pid, args.idle_seconds)
                if n == counts[0]:
                    report["empty_poll"]["deployment"] = deployment_polls(server.pid, worker.pid, idle, args.repeats,
                                                                          names[0], old)
                report["empty_poll"].setdefault("fan_out_idle", []).append(
                    fan_out_polls(server.pid, worker.pid, idle, args.repeats, n))
                report["load"].append(load_cycles(server.pid, worker.pid, idle, n, args.cycles))
            finally:
                _stop(worker)
        report["emulator_requests"] = emulators.call("stats")
    report["environment"] = {"load_average_start": [round(x, 2) for x in load_start],
                             "load_average_end": [round(x, 2) for x in os.getloadavg()],
                             "minutes": round((time.time() - started) / 60, 1), "cpus": os.cpu_count()}
    report["fits"] = [r["tenants"] for r in report["load"] if r["fits"]]
    return report


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except Exception:
        proc.kill()


def subset(work: Path, names: list[str]) -> Path:
    """A tenants directory holding just ``names`` (the worker of one load size reads it)."""
    directory = work / f"tenants-{len(names)}"
    if not directory.exists():
        directory.mkdir()
        for name in names:
            shutil.copy(work / "tenants" / f"{name}.yaml", directory / f"{name}.yaml")
    return directory


def warm_up(server_pid: int, worker_pid: int) -> dict:
    """Every polled deployment once for every tenant through the worker (the tenants' first runs:
    cursors, QBO vendors, Sterling partners), then scheduled polls until no tenant has work
    left: the state a poll meets in steady operation."""
    from bench.tenant_load import tenant_table

    deployments, rounds, tally = list(dict.fromkeys(LOAD)), 0, {}
    for rounds in range(1, 4):
        parameters = {"skip_idle": False} if rounds == 1 else {}
        with Meter(server_pid, worker_pid) as m:
            # one deployment at a time: all of them at once, each running tenants 4 at a time,
            # is more than the Prefect server's SQLite takes ("database is locked", 503s)
            done = [run for d in deployments for run in run_deployments([(f"{d}/{d}", parameters)], timeout=7200)]
        tally = {d: tenant_table(r.id) for d, r in zip(deployments, done, strict=True)}
        progress(f"  round {rounds}: {m.wall:.0f} s, worker {m.worker:.0f} + server {m.server:.0f} CPU-s; {tally}")
        if rounds > 1 and not any(t.get("ran") or t.get("failed") for t in tally.values()):
            break
    return {"rounds": rounds, "last_round": tally}


def in_process_polls(server_pid: int, repeats: int, tenant: str, work: Path) -> dict:
    """One tenant's empty poll in this process: its flow run, and the fan-out's idle check."""
    from ml_connector.flows import tenants as fan
    from ml_connector.integrations import load

    out = {}
    one = subset(work, [tenant])
    for name, ref in EMPTY_POLL:
        flow_fn, parent = load(ref), getattr(fan, ref.rsplit(":", 1)[1] + "_tenants")
        for label, call in ((f"{name} flow run", lambda f=flow_fn: f(tenant=tenant)),
                            (f"{name} fan-out, one idle tenant",
                             lambda p=parent: _with_tenants(one, lambda: p(return_state=True)))):
            call()  # warm: imports, clients, sessions
            samples = []
            for _ in range(repeats):
                with Meter(server_pid) as m:
                    call()
                    time.sleep(2)  # the server takes in the run's events
                samples.append({"wall": m.wall - 2, "cpu": m.own, "server": m.server})
            out[label] = {k: median([s[k] for s in samples]) for k in ("wall", "cpu", "server")}
            progress(f"in-process {label}: {out[label]}")
    return out


def _with_tenants(directory: Path, call):
    before = os.environ["ML_CONNECTOR_TENANTS"]
    os.environ["ML_CONNECTOR_TENANTS"] = str(directory)
    try:
        return call()
    finally:
        os.environ["ML_CONNECTOR_TENANTS"] = before


def _measured_runs(server_pid: int, worker_pid: int, idle: dict, runs: list[tuple[str, dict]]) -> dict:
    peak = Peak(worker_pid)
    with Meter(server_pid, worker_pid) as m:
        done = run_deployments(runs, sample=peak)
    states = sorted({r.state_name for r in done})
    return {"wall": run_span(done), "worker": m.worker - idle["worker"] * m.wall,
            "server": m.server - idle["server"] * m.wall, "window": m.wall, "states": states,
            "peak_rss_mb": round(peak.rss_mb), "peak_threads": peak.threads}


def deployment_polls(server_pid: int, worker_pid: int, idle: dict, repeats: int, tenant: str, old: dict) -> dict:
    """Empty polls as deployment runs through the process worker, one at a time."""
    out = {}
    for name, _ in EMPTY_POLL:
        cases = {f"{name}, one deployment per tenant (the model replaced)": (old[name], {}),
                 f"{name}, fan-out naming one tenant (its subflow runs)": (f"{name}/{name}", {"tenants": [tenant]})}
        for label, (deployment, parameters) in cases.items():
            samples = [_measured_runs(server_pid, worker_pid, idle, [(deployment, parameters)]) for _ in range(repeats)]
            out[label] = _summary(samples)
            progress(f"deployment {label}: {out[label]}")
    return out


def fan_out_polls(server_pid: int, worker_pid: int, idle: dict, repeats: int, n: int) -> dict:
    """The fan-out's scheduled poll of ``n`` idle tenants, through the process worker."""
    out = {"tenants": n}
    for name, _ in EMPTY_POLL:
        samples = [_measured_runs(server_pid, worker_pid, idle, [(f"{name}/{name}", {})]) for _ in range(repeats)]
        figures = _summary(samples)
        figures["per_tenant_cpu"] = round((figures["worker"] + figures["server"]) / n, 4)
        out[name] = figures
        progress(f"deployment {name}, scheduled poll of {n} idle tenants: {figures}")
    return out


def _summary(samples: list[dict]) -> dict:
    figures = {k: median([s[k] for s in samples]) for k in ("wall", "worker", "server")}
    figures["total_cpu"] = round(figures["worker"] + figures["server"], 3)
    figures["states"] = sorted({st for s in samples for st in s["states"]})
    return figures


def load_cycles(server_pid: int, worker_pid: int, idle: dict, n: int, cycles: int) -> dict:
    """``cycles`` compressed periods of N tenants x 10 polls; whether a period fits the budget."""
    samples = []
    for c in range(cycles):
        sample = _measured_runs(server_pid, worker_pid, idle, [(f"{d}/{d}", {}) for d in LOAD])
        # the period: this cycle's CPU, and the idle rate over the rest of the 5 minutes
        rest = max(PERIOD_S - sample["window"], 0.0)
        sample["period_cpu"] = sample["worker"] + sample["server"] + (idle["worker"] + idle["server"]) * PERIOD_S
        sample["rest_s"] = rest
        samples.append(sample)
        progress(f"load {n} tenants, cycle {c + 1}: cycle {sample['window']:.0f} s, worker {sample['worker']:.1f} "
                 f"+ server {sample['server']:.1f} CPU-s, states {sample['states']}")
    budget = PERIOD_S * CORES * BUDGET_SHARE
    period_cpu = median([s["period_cpu"] for s in samples])
    cycle_s = median([s["window"] for s in samples])
    return {"tenants": n, "polls_per_period": n * len(LOAD), "cycle_s": cycle_s,
            "cycle_worker_cpu": median([s["worker"] for s in samples]),
            "cycle_server_cpu": median([s["server"] for s in samples]),
            "idle_cpu_per_s": round(idle["worker"] + idle["server"], 4),
            "period_cpu": period_cpu, "utilization": round(period_cpu / (PERIOD_S * CORES), 3),
            "cpu_per_poll": round((median([s["worker"] + s["server"] for s in samples])) / (n * len(LOAD)), 4),
            "states": sorted({st for s in samples for st in s["states"]}),
            "peak_flow_run_rss_mb": max(s["peak_rss_mb"] for s in samples),
            "peak_flow_run_threads": max(s["peak_threads"] for s in samples),
            "fits": period_cpu <= budget and cycle_s <= PERIOD_S}


def print_report(r: dict) -> None:
    print("Tenant scale (benchmarks/tenant_scale.py)")
    env = r.get("environment", {})
    print(f"  {env.get('cpus')} CPUs, load average {env.get('load_average_start')} -> {env.get('load_average_end')}, "
          f"{env.get('minutes')} min; medians of {r['config']['repeats']}")
    print("\nEmpty poll (a run that finds nothing new): wall s, CPU s")
    for label, f in r["empty_poll"].get("in_process", {}).items():
        print(f"  in-process  {label:55s} wall {f['wall']:6.2f}  process {f['cpu']:6.3f}  server {f['server']:6.3f}")
    for label, f in r["empty_poll"].get("deployment", {}).items():
        print(f"  deployment  {label:55s} wall {f['wall']:6.2f}  worker host {f['worker']:6.3f}  "
              f"server {f['server']:6.3f}  total {f['total_cpu']:6.3f}  {f['states']}")
    for group in r["empty_poll"].get("fan_out_idle", []):
        n = group["tenants"]
        for name in (k for k in group if k != "tenants"):
            f = group[name]
            print(f"  deployment  {name}, scheduled poll of {n} idle tenants{'':{max(0, 22 - len(str(n)))}s} "
                  f"wall {f['wall']:6.2f}  worker host {f['worker']:6.3f}  server {f['server']:6.3f}  "
                  f"per tenant {f['per_tenant_cpu']:.4f}  {f['states']}")
    print(f"\nLoad: N tenants x {len(r['config']['load'])} polls per {r['config']['period_s']:.0f} s period, "
          f"{r['config']['cycles']} cycles each (budget {r['config']['budget_share']:.0%} of {r['config']['cores']} cores)")
    for f in r["load"]:
        print(f"  {f['tenants']:5d} tenants ({f['polls_per_period']} polls): cycle {f['cycle_s']:6.1f} s, worker "
              f"{f['cycle_worker_cpu']:7.1f} + server {f['cycle_server_cpu']:6.1f} CPU-s, per poll "
              f"{f['cpu_per_poll']:.4f}; period {f['period_cpu']:6.1f} CPU-s = {f['utilization']:.0%} of the machine "
              f"-> {'fits' if f['fits'] else 'does not fit'}  {f['states']}")
        print(f"        largest flow run process: {f['peak_flow_run_rss_mb']} MB resident, "
              f"{f['peak_flow_run_threads']} threads")
    fits = r.get("fits") or []
    print(f"\nTenants x {len(r['config']['load'])} polls served per 2-core machine at a 5-minute poll (measured): "
          f"{max(fits) if fits else 'none of the sizes run'}")


if __name__ == "__main__":
    sys.exit(main())
