"""The chaos soak at the suite's size, across the Adobe Commerce and IBM Sterling integrations:
Commerce -> Intacct order to cash, Commerce -> Intacct procure with its vendor master, Intacct ->
Sterling and the Sterling mailbox. Heavy faults on the Adobe, Intacct and Sterling emulators and
at least three SIGKILLs of the process running the flows; nothing missing, nothing duplicated,
every delivered X12 document settled by its partner's 997 (or overdue when the partner is
silent), every failure with its reason. A test of its own so tests/soak/test_chaos_small.py
(the SPS and QBO integrations) stays small; the full size is `scripts/chaos_soak.py`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "chaos_soak.py"
COMMERCE_AND_STERLING = frozenset({"commerce-intacct-o2c", "commerce-intacct-ap", "commerce-ap-vendors",
                                   "intacct-sterling", "sterling-inbound"})


def test_small_chaos_soak_of_commerce_and_sterling(prefect_server, monkeypatch, tmp_path):
    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", f"sqlite:///{tmp_path / 'soak.db'}")
    spec = importlib.util.spec_from_file_location("chaos_soak", SCRIPT)
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    # 400 RSX files seeded but not read (only these five run): 50 Commerce orders with their
    # invoices, shipments and credit memos, 20 Intacct purchase orders for Sterling.
    # One kill per integration, early in the run (a short run, the mailbox's or the vendor
    # master's, may finish first: its kill rolls over to the flows after it).
    result = soak.soak(documents=400, kills=5, seed=13, api_url=prefect_server, kill_window=(0.2, 1.5),
                       only=COMMERCE_AND_STERLING)
    assert set(result["reconciliation"]) == COMMERCE_AND_STERLING
    assert all(result["documents_by_integration"][name] for name in COMMERCE_AND_STERLING)
    assert result["kills"] >= 3 and result["kills_mid_work"] == result["kills"]  # each killed while working
    assert {"adobe", "intacct-commerce", "sterling"} <= {s for s, c in result["faults_injected"].items() if c}
    assert result["faults_total"] > 50
    assert result["missing"] == 0 and result["duplicated"] == 0, result["reconciliation"]
    acks = result["reconciliation"]["sterling-inbound"]
    assert acks["expected"] == result["reconciliation"]["intacct-sterling"]["expected"] > 0  # each one settled
    assert acks["accepted"] and acks["rejected"] and acks["overdue"]
    assert result["failed_without_reason"] == 0
    # Nothing left received or claimed by any of the five (a webhook inbox may still hold the
    # notifications a killed run had claimed: late, not lost, since the poll reads everything).
    assert not set(result["left_pending"]) & COMMERCE_AND_STERLING, result["left_pending"]
