"""The fan-out deployment flow (flows/tenants.py): two tenants, each with its own SPS and
Intacct emulators in-process, tenant files in a directory of the test's own."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
)
from prefect.flow_engine import run_flow
from prefect.states import AwaitingRetry

from ml_connector.connectors import _http
from ml_connector.connectors.intacct.auth import shared_sessions
from ml_connector.credentials import save_block
from ml_connector.flows.tenants import sps_to_intacct_tenants
from ml_connector.mappings.sps_to_intacct import bill_number
from ml_connector.mappings.tenant import load_tenant
from ml_connector.runtime.tenant import reset
from ml_connector.sandbox.generator import generate
from ml_connector.sandbox.intacct import IntacctEmulator
from ml_connector.sandbox.seed import Seeded, seed_intacct_master
from ml_connector.sandbox.sps import SpsEmulator

DEMO = Path(__file__).parents[2] / "tenants" / "demo.yaml"
NAMES = ("fan-a", "fan-b")


@dataclass
class Company:
    intacct: IntacctEmulator
    sps: SpsEmulator
    seeded: Seeded


@pytest.fixture()
def companies(tmp_path, monkeypatch, prefect_server):
    """Tenants fan-a and fan-b, the only tenant files, each with documents waiting in its SPS."""
    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(tmp_path))
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(tmp_path / "tenants"))
    (tmp_path / "tenants").mkdir()
    reset()
    shared_sessions().clear()
    made: dict[str, Company] = {}
    for n, name in enumerate(NAMES):
        path = tmp_path / "tenants" / f"{name}.yaml"
        path.write_text(DEMO.read_text().replace("tenant: demo", f"tenant: {name}", 1))
        mapping = load_tenant(path)
        intacct, sps = IntacctEmulator(company_id=f"co-{name}"), SpsEmulator()  # two companies, two sessions
        intacct.base_url, sps.base_url = f"https://intacct-{name}.sandbox.invalid", f"https://sps-{name}.sandbox.invalid"
        for emulator in (intacct, sps):
            _http.mount(emulator.base_url, emulator.transport())
        seed_intacct_master(intacct, mapping)
        company = made[name] = Company(intacct, sps, Seeded())
        seed_documents(company, mapping, first_number=1 + 100 * n)
        save_block(name, "intacct", intacct.credentials())
        save_block(name, "sps", sps.credentials())
    yield made
    reset()
    for company in made.values():
        _http.unmount(company.intacct.base_url)
        _http.unmount(company.sps.base_url)


def seed_documents(company: Company, mapping, first_number: int) -> None:
    """Six documents in the company's SPS; numbers differ between the tenants, so the test
    holds whether or not the ledger already keys documents by tenant."""
    for doc in generate(6, seed=40, first_number=first_number):
        company.sps.put_out(doc.filename, doc.content)
        company.seeded.expected_bills.add((mapping.partners[doc.partner_id].vendor_id,
                                           bill_number(doc.doc_type, doc.number)))


def subflow_runs(parent_id) -> dict[str, list]:
    """The parent's subflow runs by name, oldest first."""
    flt = FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id]))
    with get_client(sync_client=True) as client:
        runs = sorted(client.read_flow_runs(flow_run_filter=flt), key=lambda r: r.created)
    out: dict[str, list] = {}
    for r in runs:
        out.setdefault(r.name, []).append(r)
    return out


def tenants_table(parent_id) -> dict[str, dict]:
    flt = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[parent_id]))
    with get_client(sync_client=True) as client:
        found = [a for a in client.read_artifacts(artifact_filter=flt) if a.key == "sps-to-intacct-tenants"]
    found.sort(key=lambda a: a.created)
    rows = json.loads(found[-1].data) if isinstance(found[-1].data, str) else found[-1].data
    return {r["tenant"]: r for r in rows}


def posted(company: Company) -> set:
    return {(b["VENDORID"], b["RECORDID"]) for b in company.intacct.bills()}


def test_each_tenant_gets_its_own_named_and_tagged_subflow(companies):
    state = sps_to_intacct_tenants(return_state=True)
    assert state.is_completed(), state.message
    parent = state.state_details.flow_run_id
    runs = subflow_runs(parent)
    assert set(runs) == {f"sps-to-intacct/{n}" for n in NAMES}
    for name in NAMES:
        [run] = runs[f"sps-to-intacct/{name}"]
        assert f"tenant:{name}" in run.tags and run.state.is_completed()
        assert posted(companies[name]) == companies[name].seeded.expected_bills
    rows = tenants_table(parent)
    assert {n: r["status"] for n, r in rows.items()} == {n: "ran" for n in NAMES}
    assert rows["fan-a"]["flow_run"] == str(runs["sps-to-intacct/fan-a"][0].id)

    # the next poll finds nothing new anywhere: no subflow at all, one "idle" row per tenant
    again = sps_to_intacct_tenants(return_state=True)
    assert again.is_completed()
    assert subflow_runs(again.state_details.flow_run_id) == {}
    assert {n: r["status"] for n, r in tenants_table(again.state_details.flow_run_id).items()} == \
        {n: "idle" for n in NAMES}


def test_a_failing_tenant_fails_the_parent_alone_and_a_rerun_retries_just_it(companies):
    # fan-b's SPS credentials no longer work: its run fails before it reads anything
    good, companies["fan-b"].sps.client_secret = companies["fan-b"].sps.client_secret, "rotated-by-someone"
    state = sps_to_intacct_tenants(return_state=True)
    assert state.is_failed()
    assert "1 of 2 tenants failed" in state.message and "fan-b" in state.message and "fan-a" not in state.message
    parent = state.state_details.flow_run_id
    assert posted(companies["fan-a"]) == companies["fan-a"].seeded.expected_bills  # not stopped by fan-b
    assert posted(companies["fan-b"]) == set()
    rows = tenants_table(parent)
    assert rows["fan-a"]["status"] == "ran" and rows["fan-b"]["status"] == "failed"
    assert rows["fan-b"]["flow_run"] and "Retry" in rows["fan-b"]["what_to_do"]

    # fixed, then the parent is retried as the UI does: only fan-b runs again
    companies["fan-b"].sps.client_secret = good
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(parent, AwaitingRetry(), force=True)
        flow_run = client.read_flow_run(parent)
    rerun = run_flow(sps_to_intacct_tenants, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")
    assert rerun.is_completed(), rerun.message
    runs = subflow_runs(parent)
    assert len(runs["sps-to-intacct/fan-a"]) == 1 and len(runs["sps-to-intacct/fan-b"]) == 2
    assert runs["sps-to-intacct/fan-b"][-1].state.is_completed()
    assert posted(companies["fan-b"]) == companies["fan-b"].seeded.expected_bills
    assert set(tenants_table(parent)) == {"fan-b"}


def test_naming_one_tenant_runs_just_that_one(companies):
    state = sps_to_intacct_tenants(tenants=["fan-b"], return_state=True)
    assert state.is_completed()
    assert set(subflow_runs(state.state_details.flow_run_id)) == {"sps-to-intacct/fan-b"}
    assert posted(companies["fan-b"]) == companies["fan-b"].seeded.expected_bills
    assert posted(companies["fan-a"]) == set()
    # a named tenant runs even with nothing to do (an operator's run is never skipped)
    again = sps_to_intacct_tenants(tenant="fan-b", return_state=True)
    assert set(subflow_runs(again.state_details.flow_run_id)) == {"sps-to-intacct/fan-b"}
