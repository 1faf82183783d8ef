"""Operator commands on real runs of two tenants on one ledger and one Prefect server.

acme and beta have the same mapping (but for their names), their own Intacct company and SPS
account (each on a host of its own), and the same generated documents: the same partner ids
and document numbers. Each command names one tenant and touches only that tenant's documents,
events, target systems, artifacts and automations.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prefect import flow, tags
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterTags,
)
from prefect.server.events.schemas.automations import EventTrigger as ServerEventTrigger
from prefect.server.events.schemas.events import ReceivedEvent
from prefect.server.utilities.user_templates import render_user_template_sync

from ml_connector.cli import main
from ml_connector.connectors.intacct.auth import shared_sessions
from ml_connector.credentials import save_block
from ml_connector.flows.sps_to_intacct import sps_to_intacct
from ml_connector.ledger.schema import FAILED, POSTED
from ml_connector.mappings.tenant import TenantMapping, load_tenant
from ml_connector.ops.setup import AUTOMATION_PREFIX, ZOMBIE_AUTOMATION
from ml_connector.runtime.tenant import tenant
from ml_connector.sandbox.intacct import IntacctEmulator
from ml_connector.sandbox.seed import Seeded, seed_intacct_master, seed_sps_documents
from ml_connector.sandbox.sps import SpsEmulator
from tests.flows.conftest import fresh_ledger
from tests.waiting import wait_for

IN = "sps-intacct"
OVERRIDE_ACCOUNT = "5020"  # tenants/demo.yaml books drills, saws and ladders here
REPO = Path(__file__).resolve().parents[2]


def tenant_file(folder: Path, name: str, *, sterling: bool = False) -> Path:
    """The demo mapping under another tenant name (without its sterling: section unless asked)."""
    data = yaml.safe_load((REPO / "tenants" / "demo.yaml").read_text())
    data["tenant"] = name
    if not sterling:
        data.pop("sterling", None)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass
class Side:
    name: str
    mapping: TenantMapping
    intacct: IntacctEmulator
    sps: SpsEmulator
    seeded: Seeded = field(default_factory=Seeded)

    @property
    def ledger(self):
        return tenant(self.name).ledger

    def bills(self) -> list[tuple[str, str]]:
        return sorted((b["VENDORID"], b["RECORDID"]) for b in self.intacct.bills())

    def run(self, documents: int, *, missing_account: bool = False) -> str:
        """A poll of ``documents`` new files (the same seed for every tenant), tagged as the
        tenant's runs are; with ``missing_account``, Intacct rejects every bill booked to 5020."""
        if missing_account:
            self.intacct.store.gl_accounts.discard(OVERRIDE_ACCOUNT)
        seed_sps_documents(self.sps, self.mapping, documents, 3, 0.0, self.seeded)
        with tags(f"tenant:{self.name}"):
            state = sps_to_intacct(tenant=self.name, return_state=True)
        return str(state.state_details.flow_run_id)


def make_side(name: str, folder: Path, mount) -> Side:
    intacct, sps = IntacctEmulator(company_id=f"ML-{name.upper()}"), SpsEmulator(client_id=f"sps-{name}")
    for emulator in (intacct, sps):
        emulator.base_url = f"https://{emulator.system}.{name}.sandbox.invalid"
        mount(emulator.base_url, emulator.transport())
    side = Side(name, load_tenant(tenant_file(folder, name)), intacct, sps)
    seed_intacct_master(intacct, side.mapping)
    save_block(name, "intacct", intacct.credentials())
    save_block(name, "sps", sps.credentials())
    return side


@pytest.fixture()
def pair(tmp_path, monkeypatch, prefect_server, mount) -> tuple[Side, Side]:
    fresh_ledger(tmp_path, monkeypatch)
    shared_sessions().clear()
    folder = tmp_path / "tenants"
    folder.mkdir()
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(folder))
    return make_side("acme", folder, mount), make_side("beta", folder, mount)


def one_error_line(capsys, code: int) -> str:
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, out)
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


def replay_runs(tenant_name: str) -> int:
    with get_client(sync_client=True) as client:
        return len(client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["replay"])),
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"tenant:{tenant_name}"]))))


def snapshot(*sides: Side) -> list:
    return [(s.ledger.documents(IN), s.bills()) for s in sides]


# -- replay ---------------------------------------------------------------------------------------


def test_replay_refuses_another_tenants_id_and_replays_the_tenants_own(pair, capsys):
    acme, beta = pair
    acme.run(40, missing_account=True)
    beta.run(40, missing_account=True)
    keys = {s.name: {(r.partner, r.natural_key) for r in s.ledger.documents(IN)} for s in pair}
    assert keys["acme"] == keys["beta"] and len(keys["acme"]) == 40  # the same partners and numbers
    acme_failed, beta_failed = (s.ledger.documents(IN, status=FAILED) for s in pair)
    assert acme_failed and beta_failed and not {d.id for d in acme_failed} & {d.id for d in beta_failed}
    for side in pair:
        side.intacct.add_gl_account(OVERRIDE_ACCOUNT)  # the fix: a replay in the wrong tenant would post now
    before, runs = snapshot(acme, beta), replay_runs("beta")

    code = main(["replay", "--tenant", "beta", "--integration", IN, "--id", str(acme_failed[0].id)])
    assert one_error_line(capsys, code) == f"error: document {acme_failed[0].id} belongs to another tenant, not beta"
    assert snapshot(acme, beta) == before and replay_runs("beta") == runs  # nothing changed, no run started
    assert "not in the ledger" in one_error_line(capsys, main(["replay", "--tenant", "beta", "--integration", IN,
                                                               "--id", "999999"]))

    mine = beta_failed[0]
    assert main(["replay", "--tenant", "beta", "--integration", IN, "--id", str(mine.id)]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["replayed"] == 1 and result["posted"] == 1
    assert {d.id: d.status for d in beta.ledger.documents(IN, ids=[mine.id])} == {mine.id: POSTED}
    [twin] = [d for d in acme.ledger.documents(IN) if (d.partner, d.natural_key) == (mine.partner, mine.natural_key)]
    assert twin.status == FAILED  # acme's document of the same number is still waiting for acme
    assert len(beta.bills()) == len(before[1][1]) + 1 and acme.bills() == before[0][1]
    assert replay_runs("beta") == runs + 1  # the replay run carries the tenant's tag


# -- status, prune, reconcile -----------------------------------------------------------------------


def test_status_shows_only_the_tenants_counts(pair, capsys):
    acme, beta = pair
    acme_run = acme.run(40, missing_account=True)
    beta.run(12)
    acme_counts, beta_counts = acme.ledger.status_counts(IN), beta.ledger.status_counts(IN)
    assert acme_counts != beta_counts and FAILED in acme_counts and FAILED not in beta_counts
    assert main(["status", "--tenant", "acme", "--json"]) == 0
    rows = {r["integration"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[IN]["by_status"] == acme_counts and rows[IN]["last_run"]["flow_run_id"] == acme_run
    oldest = rows[IN]["oldest_unresolved_failure"]["id"]
    assert beta.ledger.tenant_of(oldest) == "acme"
    assert main(["status", "--tenant", "acme"]) == 0
    assert f"ml-connector replay --tenant acme --integration {IN} --id {oldest}" in capsys.readouterr().out


def test_prune_of_one_tenant_leaves_the_others_events_and_payloads(pair, capsys):
    acme, beta = pair
    acme_run, beta_run = acme.run(30), beta.run(30)
    beta_before = beta.ledger.run_counts(IN, beta_run)
    assert main(["prune", "--tenant", "acme", "--days", "-1"]) == 0  # a cutoff in the future: all of acme's is old
    pruned = json.loads(capsys.readouterr().out)
    assert pruned["tenant"] == "acme" and pruned["events_deleted"] > 0
    assert acme.ledger.run_counts(IN, acme_run)["read"] == 0
    assert all(d.raw_payload is None for d in acme.ledger.documents(IN, status=POSTED))
    assert beta.ledger.run_counts(IN, beta_run) == beta_before and beta_before["read"] == 30
    assert all(d.raw_payload for d in beta.ledger.documents(IN, status=POSTED))


def test_reconcile_compares_the_tenants_ledger_with_the_tenants_systems(pair, tmp_path, capsys):
    acme, beta = pair
    acme.run(10)
    beta.run(16)
    bill = beta.intacct.bills()[0]
    beta.intacct.store.remove("APBILL", bill["RECORDNO"])  # deleted behind beta's back, not acme's
    out = tmp_path / "reconcile"

    assert main(["reconcile", "--tenant", "acme", "--out", str(out), "--json"]) == 0
    acme_lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {s["integration"] for s in acme_lines} == {IN, "intacct-sps"}  # what acme's mapping configures
    [acme_bills] = [s for s in acme_lines if s["integration"] == IN]
    assert (acme_bills["source"], acme_bills["missing"]) == (len(acme.seeded.expected_bills), 0)

    assert main(["reconcile", "--tenant", "beta", "--integration", IN, "--out", str(out), "--json"]) == 1
    [beta_bills] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (beta_bills["source"], beta_bills["missing"]) == (len(beta.seeded.expected_bills), 1)
    assert len(acme.seeded.expected_bills) != len(beta.seeded.expected_bills)
    assert Path(acme_bills["csv"]).name.startswith(f"reconcile-acme-{IN}-")
    assert Path(beta_bills["csv"]).name.startswith(f"reconcile-beta-{IN}-")
    summaries = {t: artifact_tables(f"{t}-reconciliation") for t in ("acme", "beta")}
    assert summaries["acme"] and all(row["tenant"] == "acme" for table in summaries["acme"] for row in table)
    assert any(row["missing"] == 1 for row in summaries["beta"][-1])


# -- the run report ---------------------------------------------------------------------------------


def artifact_tables(key: str, flow_run_id: str | None = None) -> list[list[dict]]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    tables = []
    for artifact in sorted(found, key=lambda a: a.created):
        if flow_run_id is None or str(artifact.flow_run_id) == flow_run_id:
            data = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
            tables.append(data)
    return tables


def test_each_tenants_run_report_has_its_own_key_and_replay_commands_with_its_tenant(pair):
    acme, beta = pair
    runs = {"acme": acme.run(40, missing_account=True), "beta": beta.run(40, missing_account=True)}
    for side in pair:
        [table] = artifact_tables(f"{side.name}-{IN}-run-report", runs[side.name])
        failed = {d.id for d in side.ledger.documents(IN, status=FAILED)}
        commands = [row["what to do"].split("or: ", 1)[1] for row in table if row["status"] == FAILED]
        assert len(commands) == len(failed)
        prefix = f"ml-connector replay --tenant {side.name} --integration {IN}"
        assert {c.rsplit(" --id ", 1)[0] for c in commands} == {prefix}
        assert {int(c.rsplit(" ", 1)[1]) for c in commands} == failed


# -- setup: automations per tenant --------------------------------------------------------------------


def failed_event(api: str, run_id) -> ReceivedEvent | None:
    body = {"filter": {"event": {"name": ["prefect.flow-run.Failed"]},
                       "resource": {"id": [f"prefect.flow-run.{run_id}"]},
                       "occurred": {"since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}},
            "limit": 1}
    events = httpx.post(f"{api}/events/filter", json=body, timeout=10).json().get("events", [])
    return ReceivedEvent.model_validate(events[0]) if events else None


def ours(prefix: str) -> dict[str, list]:
    """Automations on the server whose names start with ``prefix``, by name."""
    found: list = []
    with get_client(sync_client=True) as client:
        while batch := client.read_automations(offset=len(found)):
            found += batch
    by_name: dict[str, list] = {}
    for a in found:
        if a.name.startswith(prefix):
            by_name.setdefault(a.name, []).append(a)
    return by_name


def covers(automation, event) -> bool:
    return ServerEventTrigger.model_validate(json.loads(automation.trigger.model_dump_json())).covers(event)


@pytest.fixture()
def two_tenants_set_up(prefect_server, tmp_path, monkeypatch):
    """Tenants alert-acme (sps <-> intacct) and alert-beta (with Sterling too), set up twice for
    acme, with a notification block; their automations are deleted afterwards."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    folder = tmp_path / "tenants"
    folder.mkdir()
    tenant_file(folder, "alert-acme")
    tenant_file(folder, "alert-beta", sterling=True)
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(folder))
    block = f"alerts-{uuid.uuid4().hex[:8]}"
    CustomWebhookNotificationBlock(name="ops", url="http://127.0.0.1:9/alerts",
                                   json_data={"text": "{{body}}"}).save(block)
    creds = tmp_path / "creds.yaml"
    creds.write_text(yaml.safe_dump({"intacct": IntacctEmulator().credentials(), "alerts": {"notify_block": block}}))
    try:
        for name in ("alert-acme", "alert-beta", "alert-acme"):
            assert main(["setup", "--tenant", name, "--file", str(creds), "--no-verify"]) == 0
        yield
    finally:
        with get_client(sync_client=True) as client:
            for t in ("alert-acme", "alert-beta"):
                for automations in ours(f"{AUTOMATION_PREFIX}: {t}: ").values():
                    for a in automations:
                        client.delete_automation(a.id)


def test_setup_automations_of_two_tenants_coexist_and_match_only_their_tenants_runs(two_tenants_set_up,
                                                                                    prefect_server):
    acme, beta = (ours(f"{AUTOMATION_PREFIX}: alert-{t}: ") for t in ("acme", "beta"))
    assert all(len(found) == 1 for found in (*acme.values(), *beta.values()))  # acme's rerun replaced, not added
    assert len(acme) == 4 and len(beta) == 8  # two per integration each tenant's mapping configures
    assert len(ours(ZOMBIE_AUTOMATION)[ZOMBIE_AUTOMATION]) == 1  # server-wide: one
    assert f"{AUTOMATION_PREFIX}: alert-beta: intacct-sterling run failed" in beta
    assert not any("sterling" in name for name in acme)

    failed_acme = acme[f"{AUTOMATION_PREFIX}: alert-acme: {IN} run failed"][0]
    failed_beta = beta[f"{AUTOMATION_PREFIX}: alert-beta: {IN} run failed"][0]

    @flow(name="sps-to-intacct")
    def stand_in():
        raise RuntimeError("a failed run of acme's")

    with tags("tenant:alert-acme"):
        acme_run = stand_in(return_state=True).state_details.flow_run_id
    untagged_run = stand_in(return_state=True).state_details.flow_run_id
    acme_event = wait_for(lambda: failed_event(prefect_server, acme_run), "acme's Failed event", timeout=60)
    untagged = wait_for(lambda: failed_event(prefect_server, untagged_run), "the untagged Failed event", timeout=60)
    assert covers(failed_acme, acme_event) and not covers(failed_beta, acme_event)
    assert not covers(failed_acme, untagged) and not covers(failed_beta, untagged)

    [action] = failed_acme.actions
    body = render_user_template_sync(action.body, {"event": acme_event})
    assert f"ml-connector replay --tenant alert-acme --integration {IN} --run-id {acme_run}" in body
    assert "alert-acme" in action.subject
    [absent] = acme[f"{AUTOMATION_PREFIX}: alert-acme: {IN} absent"][0].actions
    assert "ml-connector status --tenant alert-acme" in absent.body


def test_setup_with_an_unknown_notification_block_is_one_line(prefect_server, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "tenants"
    folder.mkdir()
    tenant_file(folder, "alert-gamma")
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(folder))
    creds = tmp_path / "creds.yaml"
    creds.write_text(yaml.safe_dump({"intacct": IntacctEmulator().credentials(),
                                     "alerts": {"notify_block": "no-such-block"}}))
    code = main(["setup", "--tenant", "alert-gamma", "--file", str(creds), "--no-verify"])
    assert "no blocks named 'no-such-block'" in one_error_line_after_output(capsys, code)
    assert not ours(f"{AUTOMATION_PREFIX}: alert-gamma: ")


def one_error_line_after_output(capsys, code: int) -> str:
    """setup prints the blocks it saved before the automations' error."""
    _, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    return err.strip()
