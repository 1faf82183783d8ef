"""Peak memory of the product flow process: one fresh subprocess per size, on a world the parent
seeded in the emulator host, so the figure is the pipeline's own (pages stream: the peak at
100,000 documents should stay close to the peak at 10,000)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from . import RUN_PY, TENANT
from .emulator_host import EmulatorHost
from .rss import mb, peak_rss_kb, vm_rss_kb
from .world import fresh_world


def memory_child_main(documents: int, page_size: int, path: str) -> int:
    """Child mode: run the product flow (or the raw pipeline) once on the world the parent
    seeded, and print its RSS figures as JSON on the last line."""
    # The flow and everything it imports (its pipeline, tasks and connectors), before the baseline.
    from ml_connector.flows.sps_to_intacct import sps_to_intacct

    baseline = vm_rss_kb()
    started = time.perf_counter()
    if path == "product":
        state = sps_to_intacct(tenant=TENANT, page_size=page_size, return_state=True)
        counts = state.result()
    else:
        from .raw_pipelines import raw_sps_to_intacct

        counts = raw_sps_to_intacct(TENANT, page_size)
    seconds = time.perf_counter() - started
    peak = peak_rss_kb()
    print(json.dumps({
        "path": path,
        "documents": documents,
        "posted": counts.get("posted", 0),
        "seconds": round(seconds, 2),
        "docs_per_second": round(counts.get("posted", 0) / seconds, 1) if seconds else None,
        "baseline_rss_mb": mb(baseline),
        "peak_rss_mb": mb(peak),
        "end_rss_mb": mb(vm_rss_kb()),
        "growth_mb": mb(peak - baseline),
        "ru_maxrss_mb": mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
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
        [sys.executable, str(RUN_PY), "--memory-child", str(documents), "--page-size", str(page_size),
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
