"""Chaos soak: heavy faults, and the process running the flows killed with SIGKILL at random
moments and restarted, until the sandbox is drained; then reconcile.

    .venv/bin/python scripts/chaos_soak.py --documents 10000 --kills 5
    .venv/bin/python scripts/chaos_soak.py --documents 300 --kills 3 --json    # the suite's size

The emulators (Intacct, SPS; heavy faults: 429 bursts, 5xx, timeouts, lost write responses,
sessions and tokens expiring every 2 s) are served over HTTP from this process; each flow run
happens in a child process that is killed without warning. A killed run leaves its Prefect
flow run "Running" forever (nothing tells the server it died), so its unfinished intents are
settled by the lease (``ML_CONNECTOR_INTENT_LEASE``, short here) on a later run. Prints the
figures: documents, faults injected, kills, missing, duplicated, failed with reason.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# Small pages, so a run alternates fetching, recording and posting, and a kill lands in each.
RUN_FLOW = "from {module} import {fn}; {fn}(tenant='demo', page_size=40)"
FLOWS = [("sps-intacct", "ml_connector.flows.sps_to_intacct", "sps_to_intacct"),
         ("intacct-sps", "ml_connector.flows.intacct_to_sps", "intacct_to_sps")]


def child_env(api_url: str) -> dict:
    return {**os.environ, "PREFECT_API_URL": api_url, "ML_CONNECTOR_INTENT_LEASE": "2",
            "ML_CONNECTOR_TASK_RETRY_DELAYS": "0.2,0.5,1", "PREFECT_LOGGING_LEVEL": "ERROR"}


def run_child(module: str, fn: str, env: dict, kill_after: float | None) -> str:
    """Run one flow in a child process; SIGKILL it after ``kill_after`` seconds if given."""
    proc = subprocess.Popen([sys.executable, "-c", RUN_FLOW.format(module=module, fn=fn)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=kill_after if kill_after is not None else 3600)
        return "completed" if proc.returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        if kill_after is None:
            proc.kill()
            proc.wait()
            return "timeout"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return "killed"


def drained(world, ledger, integration: str) -> bool:
    from ml_connector.demo_parts.sps_intacct import sps

    counts = ledger.status_counts(integration)
    if integration == "sps-intacct":
        source_empty = not sps(world).files("out/")
    else:  # every posted order acknowledged too
        source_empty = not ledger.posted_without_followup("sps-intacct", "order", "intacct-sps", "orderack", limit=1)
    return source_empty and not counts.get("received") and not counts.get("posting")


def _events(ledger) -> int:
    from sqlalchemy import func, select

    from ml_connector.ledger.schema import document_events

    with ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(document_events)).scalar()


def soak(documents: int, kills: int, seed: int, api_url: str, max_runs: int = 60) -> dict:
    """Run the soak against the Prefect API at ``api_url``; return the figures."""
    from ml_connector.demo_parts.sps_intacct import SpsIntacctPart
    from ml_connector.demo_world import DemoWorld
    from ml_connector.tasks.resources import tenant as tenant_resources

    rng = random.Random(seed)
    part = SpsIntacctPart()
    env = child_env(api_url)
    runs: Counter = Counter()
    started = time.monotonic()
    with DemoWorld(documents=documents, faults="heavy", seed=seed, parts=[part]) as world:
        world.save_blocks()
        ledger = tenant_resources(world.tenant).ledger
        kills_left = kills
        for integration, module, fn in FLOWS:
            for _ in range(max_runs):
                # a child needs ~3 s to import Prefect; kill somewhere in the work after that
                kill_after = rng.uniform(4.0, 12.0) if kills_left > 0 else None
                before = _events(ledger)
                outcome = run_child(module, fn, env, kill_after)
                runs[outcome] += 1
                kills_left -= outcome == "killed"
                if outcome == "killed" and _events(ledger) > before:
                    runs["killed_mid_work"] += 1
                if outcome != "killed" and drained(world, ledger, integration):
                    break
                if outcome == "killed":
                    time.sleep(2.5)  # let the lease of the killed run's intents pass
        recon = {name: part.reconcile(world, name) for name, _, _ in FLOWS}
        failed = [r for name, _, _ in FLOWS for r in ledger.documents(name, status=("failed", "quarantined"))]
        faults = {system: dict(e.faults.counts) for system, e in world.emulators.items()}
    return {
        "documents": documents,
        "seconds": round(time.monotonic() - started, 1),
        "runs": dict(runs),
        "kills": runs["killed"],
        "kills_mid_work": runs["killed_mid_work"],
        "faults_injected": faults,
        "faults_total": sum(sum(c.values()) for c in faults.values()),
        "missing": sum(r["missing"] for r in recon.values()),
        "duplicated": sum(r["duplicated"] for r in recon.values()),
        "failed_or_quarantined": len(failed),
        "failed_without_reason": sum(1 for r in failed if not r.last_error),
        "reconciliation": recon,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ml_connector.demo import prefect_api, prepare_environment

    prepare_environment(Path(tempfile.mkdtemp(prefix="mlc-soak-")))
    with prefect_api() as api_url:
        result = soak(args.documents, args.kills, args.seed, api_url)
    print(f"chaos soak: {result['documents']} documents in {result['seconds']}s; runs {result['runs']}; "
          f"{result['kills']} SIGKILLs ({result['kills_mid_work']} after the run had written to the ledger); {result['faults_total']} faults injected {result['faults_injected']}")
    print(f"missing {result['missing']}, duplicated {result['duplicated']}, failed or quarantined "
          f"{result['failed_or_quarantined']} (without a reason: {result['failed_without_reason']})")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    ok = result["missing"] == 0 and result["duplicated"] == 0 and result["failed_without_reason"] == 0
    return 0 if ok and result["kills"] >= min(args.kills, 3) else 1


if __name__ == "__main__":
    sys.exit(main())
