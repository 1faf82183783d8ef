"""The chaos soak at the suite's size: heavy faults and at least three SIGKILLs of the process
running the flows; nothing missing, nothing duplicated, every failure with its reason.
The full size (10,000 documents) is `scripts/chaos_soak.py`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "chaos_soak.py"


def test_small_chaos_soak(prefect_server, monkeypatch, tmp_path):
    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", f"sqlite:///{tmp_path / 'soak.db'}")
    spec = importlib.util.spec_from_file_location("chaos_soak", SCRIPT)
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    result = soak.soak(documents=300, kills=3, seed=13, api_url=prefect_server)
    assert result["kills"] >= 3 and result["kills_mid_work"] >= 1  # killed while working, not while importing
    assert result["faults_total"] > 50
    assert result["missing"] == 0 and result["duplicated"] == 0, result["reconciliation"]
    assert result["failed_without_reason"] == 0
