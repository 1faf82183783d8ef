"""The tenant-scale benchmark runs at a tiny size and prints every figure (no timing is tested)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "tenant_scale.py"


@pytest.mark.timeout(1200)
def test_tenant_scale_prints_its_figures_at_a_tiny_size():
    # its own Prefect server, worker and emulators, as the benchmark always has
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "ML_CONNECTOR_"))}
    done = subprocess.run([sys.executable, str(SCRIPT), "--tenants", "2", "--cycles", "1", "--quick", "--json"],
                          env=env, capture_output=True, text=True, timeout=1100)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for figure in ("sps-to-intacct flow run", "intacct-to-sps flow run", "fan-out, one idle tenant",
                   "one deployment per tenant (the model replaced)", "fan-out naming one tenant",
                   "scheduled poll of 2 idle tenants", "2 tenants (20 polls)",
                   "Tenants x 10 polls served per 2-core machine at a 5-minute poll (measured)"):
        assert figure in out, figure
    report = json.loads(out.strip().splitlines()[-1])
    deployment = report["empty_poll"]["deployment"]
    assert all(f["states"] == ["Completed"] and f["worker"] > 0 and f["server"] > 0 for f in deployment.values())
    [idle] = report["empty_poll"]["fan_out_idle"]
    assert idle["tenants"] == 2 and idle["sps-to-intacct"]["per_tenant_cpu"] > 0
    [load] = report["load"]
    assert load["tenants"] == 2 and load["polls_per_period"] == 20 and load["states"] == ["Completed"]
    # after the first runs, a scheduled poll finds every tenant idle: no subflow runs at all
    assert not any(v.get("ran") or v.get("failed") for v in report["warm_up"]["last_round"].values())
