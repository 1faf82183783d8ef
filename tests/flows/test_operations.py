"""Operator commands on real runs: replay, status, reconcile, setup, check, prune."""

from __future__ import annotations

import shutil
from datetime import timedelta

from prefect.client.orchestration import get_client

from ml_connector.cli import main
from ml_connector.flows.replay import replay
from ml_connector.flows.sps_to_intacct import sps_to_intacct
from ml_connector.ledger.schema import FAILED, POSTED
from ml_connector.mappings.tenant import load_tenant, tenant_path
from ml_connector.ops.reconcile import reconcile
from ml_connector.ops.retention import prune
from ml_connector.ops.setup import check, create_automations, read_credentials
from ml_connector.ops.status import integration_status
from ml_connector.runtime.tenant import reset, tenant

IN = "sps-intacct"
OVERRIDE_ACCOUNT = "5020"  # tenants/demo.yaml books drills, saws and ladders here


def run_with_missing_account(world):
    """A run in which Intacct rejects every bill that uses one GL account."""
    world.intacct.store.gl_accounts.discard(OVERRIDE_ACCOUNT)
    world.add_documents(80)
    state = sps_to_intacct(tenant="demo", return_state=True)
    return str(state.state_details.flow_run_id)


def test_replay_after_a_fix_posts_the_failed_documents_once(world):
    run_id = run_with_missing_account(world)
    failed = world.ledger.documents(IN, status=FAILED)
    assert failed and all("5020" in (f.last_error or "") or f.last_error for f in failed)
    world.intacct.add_gl_account(OVERRIDE_ACCOUNT)  # the fix
    counts = replay(integration=IN, tenant="demo", flow_run_id=run_id)
    assert counts["replayed"] == len(failed) and counts["posted"] == len(failed)
    assert world.ledger.status_counts(IN) == {POSTED: len(world.seeded.expected_bills)}
    assert set(world.bill_counts()) == world.seeded.expected_bills
    assert all(c == 1 for c in world.bill_counts().values())
    # replaying a posted document is refused, not done
    again = replay(integration=IN, tenant="demo", ids=[failed[0].id])
    assert again["posted_refused"] == 1 and again["posted"] == 0


def test_status_reports_the_oldest_unresolved_failure(world):
    run_with_missing_account(world)
    st = integration_status(world.ledger, IN)
    assert st["by_status"][FAILED] > 0 and st["last_run"]
    assert st["oldest_unresolved_failure"]["status"] == FAILED
    assert main(["status", "--tenant", "demo"]) == 0


def test_reconcile_finds_nothing_wrong_then_a_missing_bill(world, tmp_path):
    world.add_documents(30)
    sps_to_intacct(tenant="demo")
    res = tenant("demo")
    clean = reconcile(res, IN, tmp_path)
    assert clean["missing"] == 0 and clean["duplicated"] == 0 and clean["source"] == 30
    # a bill deleted in Intacct behind our back is found missing, and the CLI exits non-zero
    bill = world.intacct.bills()[0]
    world.intacct.store.remove("APBILL", bill["RECORDNO"])
    assert reconcile(res, IN, tmp_path)["missing"] == 1
    assert main(["reconcile", "--tenant", "demo", "--integration", IN, "--out", str(tmp_path)]) == 1
    assert list(tmp_path.glob("reconcile-demo-sps-intacct-*.csv"))


def test_prune_drops_old_events_and_settled_payloads_only(world):
    run_with_missing_account(world)
    result = prune(world.ledger, timedelta(days=-1))  # a cutoff in the future: everything is old
    assert result["events_deleted"] > 0 and result["payloads_dropped"] > 0
    assert all(d.raw_payload is None for d in world.ledger.documents(IN, status=POSTED))
    assert all(d.raw_payload for d in world.ledger.documents(IN, status=FAILED))  # replay still possible


def test_setup_reads_env_saves_blocks_and_creates_automations(world, monkeypatch, tmp_path):
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    shutil.copy(tenant_path("demo"), tenants / "acme.yaml")
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(tenants))
    creds = world.intacct.credentials()
    for field, value in creds.items():
        monkeypatch.setenv(f"ML_CONNECTOR_INTACCT_{field.upper()}", value)
    sps = world.sps.credentials()
    for field in ("client_id", "client_secret", "base_url", "token_url", "audience"):
        monkeypatch.setenv(f"ML_CONNECTOR_SPS_{field.upper()}", sps[field])
    assert set(read_credentials(None)) == {"intacct", "sps"}
    assert main(["setup", "--tenant", "acme"]) == 0
    names = create_automations("acme", load_tenant(tenants / "acme.yaml"))
    with get_client(sync_client=True) as client:
        for name in names:
            assert len(client.read_automations_by_name(name)) == 1  # re-running replaced, not added
    assert any("acme" in n and "absent" in n for n in names) and any("acme" in n and "failed" in n for n in names)


def test_check_says_connected_or_why_not(world):
    assert {r["status"] for r in check("demo")} == {"connected"}
    world.sps.client_secret = "rotated-elsewhere"
    reset()
    results = {r["system"]: r for r in check("demo")}
    assert results["intacct"]["status"] == "connected"
    assert results["sps"]["status"] == "failed" and results["sps"]["reason"]
    assert "rotated-elsewhere" not in results["sps"]["reason"]


def test_setup_with_a_missing_file_is_a_one_line_error(capsys):
    assert main(["setup", "--tenant", "x", "--file", "/nonexistent.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1
