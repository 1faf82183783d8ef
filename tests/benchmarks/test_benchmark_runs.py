"""The benchmark runs at a small size and reports sane figures (its speed is not tested)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).parents[2] / "benchmarks" / "inbound_throughput.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("inbound_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_inbound_benchmark_runs_small(prefect_server, monkeypatch, tmp_path):
    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", f"sqlite:///{tmp_path / 'unused.db'}")  # restored after
    bench = load_benchmark()
    run = bench.measure(documents=30, page_size=10)
    assert run["posted"] == 30 and run["missing"] == 0
    assert run["docs_per_second"] > 0
    # 3 pages of 10: the bills go in one envelope per page, plus one session request
    assert 0 < run["intacct_requests_per_posted_doc"] < 0.5
    assert run["prefect_task_runs_per_1000_docs"] > 0
    summary = bench.summarize([run, run])
    assert summary["repeats"] == 2 and summary["docs_per_second"] == run["docs_per_second"]
