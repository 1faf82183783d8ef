"""Operator commands name their tenant: ``--tenant`` is required (no default, not even from the
environment), a document id of another tenant or of no document is refused in one line before
anything runs, a ledger behind this build's schema is one line and exit 2 for every command that
opens it, and ``ledger upgrade`` moves it on only when told whose its rows are.

No Prefect server here: every refusal happens before a flow run would start.
(tests/flows/test_operations_tenants.py runs the commands on real runs of two tenants.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine

from ml_connector.cli import main
from ml_connector.ledger import migrate
from ml_connector.ledger.migrate import HEAD
from ml_connector.ledger.schema import FAILED, POSTED
from ml_connector.ledger.store import Incoming, Ledger, Outcome
from ml_connector.mappings.tenant import load_tenant
from ml_connector.ops.setup import AUTOMATION_PREFIX, ZOMBIE_AUTOMATION, automations
from ml_connector.runtime.tenant import reset
from ml_connector.tasks.ops import artifact_key
from tests.ledger.legacy import write_legacy_ledger

IN = "sps-intacct"
REPO = Path(__file__).resolve().parents[1]
TENANT_COMMANDS = {
    "status": [],
    "replay": ["--integration", IN, "--status", "failed"],
    "reconcile": [],
    "prune": [],
    "check": [],
}


def tenant_file(folder: Path, name: str, *, sterling: bool = False) -> Path:
    """The demo mapping under another tenant name (without its sterling: section unless asked)."""
    data = yaml.safe_load((REPO / "tenants" / "demo.yaml").read_text())
    data["tenant"] = name
    if not sterling:
        data.pop("sterling", None)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture()
def env(tmp_path, monkeypatch):
    """Tenants acme and beta (mapping files), a ledger URL of their own, nothing cached."""
    folder = tmp_path / "tenants"
    folder.mkdir()
    tenant_file(folder, "acme")
    tenant_file(folder, "beta")
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(folder))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", url)
    monkeypatch.delenv("ML_CONNECTOR_TENANT", raising=False)
    reset()
    yield url
    reset()


def failed_documents(ledger: Ledger, n: int = 3) -> list[int]:
    """``n`` failed orders with the same partner and numbers whatever the tenant."""
    page = [Incoming("order", "WALMART", f"PO-{i}", f"out/PO-{i}.xml", b"<Order/>") for i in range(n)]
    ids = ledger.ingest(IN, page, "run-x").new_ids
    claimed = ledger.claim(IN, ids, "run-x")
    ledger.record_outcomes(IN, [Outcome(c.id, FAILED, error_class="rejected", error="bad vendor") for c in claimed],
                           "run-x")
    return ids


def one_error_line(capsys, code: int) -> str:
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, out)
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


# -- --tenant is explicit ------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(TENANT_COMMANDS) + ["setup"])
def test_every_operator_command_requires_the_tenant_even_with_one_in_the_environment(command, env, monkeypatch,
                                                                                     capsys):
    monkeypatch.setenv("ML_CONNECTOR_TENANT", "acme")  # not a default: the command line must show it
    with pytest.raises(SystemExit) as exited:
        main([command, *TENANT_COMMANDS.get(command, [])])
    assert exited.value.code == 2
    assert "--tenant" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(TENANT_COMMANDS))
def test_an_unknown_tenant_is_one_line_not_an_empty_ledger(command, env, capsys):
    code = main([command, "--tenant", "acmee", *TENANT_COMMANDS[command]])
    assert "acmee" in one_error_line(capsys, code)


# -- replay by id ---------------------------------------------------------------------------------


def test_replay_refuses_another_tenants_id_in_one_line_and_changes_nothing(env, capsys):
    acme = Ledger(env, tenant="acme")
    acme_ids = failed_documents(acme)
    beta_ids = failed_documents(acme.for_tenant("beta"))
    before = [acme.documents(IN), acme.for_tenant("beta").documents(IN)]
    code = main(["replay", "--tenant", "beta", "--integration", IN, "--id", str(beta_ids[0]), "--id", str(acme_ids[1])])
    assert one_error_line(capsys, code) == f"error: document {acme_ids[1]} belongs to another tenant, not beta"
    assert [acme.documents(IN), acme.for_tenant("beta").documents(IN)] == before  # not even beta's own id moved


def test_replay_of_an_id_that_is_no_document_says_so(env, capsys):
    failed_documents(Ledger(env, tenant="acme"))
    code = main(["replay", "--tenant", "acme", "--integration", IN, "--id", "9999"])
    assert one_error_line(capsys, code) == "error: document 9999 is not in the ledger"


def test_replay_of_the_tenants_id_under_another_integration_names_its_integration(env, capsys):
    [doc_id, *_] = failed_documents(Ledger(env, tenant="acme"))
    code = main(["replay", "--tenant", "acme", "--integration", "intacct-sps", "--id", str(doc_id)])
    assert one_error_line(capsys, code) == f"error: document {doc_id} is not a intacct-sps document but a {IN} one"


# -- a ledger behind this build ------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(TENANT_COMMANDS))
def test_a_command_on_a_ledger_behind_prints_one_line_and_exits_2(command, env, capsys):
    write_legacy_ledger(env)
    line = one_error_line(capsys, main([command, "--tenant", "acme", *TENANT_COMMANDS[command]]))
    assert "ml-connector ledger upgrade --tenant" in line
    assert migrate.revision(create_engine(env)) == "unversioned"  # untouched


def test_ledger_upgrade_refuses_without_the_tenant_then_upgrades_with_it(env, capsys):
    write_legacy_ledger(env, documents=4)
    assert "--tenant" in one_error_line(capsys, main(["ledger", "upgrade"]))
    assert migrate.revision(create_engine(env)) == "unversioned"

    assert main(["ledger", "upgrade", "--tenant", "acme"]) == 0
    assert capsys.readouterr().out == f"ledger {env} upgraded from unversioned to {HEAD}\n"
    assert main(["ledger", "upgrade", "--tenant", "acme"]) == 0
    assert capsys.readouterr().out == f"ledger {env} already at {HEAD}\n"
    acme = Ledger(env, tenant="acme")
    assert [r.natural_key for r in acme.documents(IN)] == [f"PO-{n}" for n in range(4)]
    assert acme.for_tenant("beta").documents(IN) == []
    assert main(["status", "--tenant", "acme"]) == 0  # the commands work again


def test_ledger_upgrade_names_a_tenant_that_exists(env, capsys):
    write_legacy_ledger(env)
    assert "acmee" in one_error_line(capsys, main(["ledger", "upgrade", "--tenant", "acmee"]))
    assert migrate.revision(create_engine(env)) == "unversioned"  # its rows were not given to a typo


def test_ledger_upgrade_never_prints_the_password(env, monkeypatch, capsys):
    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", "postgresql+psycopg://ops:s3cret@db.example/ledger")
    monkeypatch.setattr(migrate, "upgrade", lambda url, tenant=None: ("0001", HEAD))
    assert main(["ledger", "upgrade", "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    assert out == f"ledger postgresql+psycopg://ops:***@db.example/ledger upgraded from 0001 to {HEAD}\n"


# -- what the product prints carries --tenant ---------------------------------------------------


def test_status_shows_the_tenants_counts_and_a_replay_hint_with_its_tenant(env, capsys):
    acme = Ledger(env, tenant="acme")
    acme_ids = failed_documents(acme, 2)
    failed_documents(acme.for_tenant("beta"), 5)
    assert main(["status", "--tenant", "acme", "--json"]) == 0
    rows = {r["integration"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {IN, "intacct-sps"}  # what acme's mapping configures
    assert rows[IN]["by_status"] == {FAILED: 2} and rows[IN]["tenant"] == "acme"
    assert main(["status", "--tenant", "acme"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("tenant acme\n")
    assert f"replay: ml-connector replay --tenant acme --integration {IN} --id {acme_ids[0]}" in text


def test_prune_is_the_tenants_only(env, capsys):
    acme = Ledger(env, tenant="acme")
    beta = acme.for_tenant("beta")
    for ledger in (acme, beta):
        ids = ledger.ingest(IN, [Incoming("order", "WALMART", "PO-1", "out/PO-1.xml", b"<Order/>")], "run-y").new_ids
        ledger.claim(IN, ids, "run-y")
        ledger.record_outcomes(IN, [Outcome(i, POSTED, target_id="1") for i in ids], "run-y")
    assert main(["prune", "--tenant", "acme", "--days", "-1"]) == 0
    assert json.loads(capsys.readouterr().out)["tenant"] == "acme"
    assert acme.run_counts(IN, "run-y")["read"] == 0 and acme.documents(IN)[0].raw_payload is None
    assert beta.run_counts(IN, "run-y")["read"] == 1 and beta.documents(IN)[0].raw_payload == b"<Order/>"


@pytest.mark.parametrize("tenant, key", [
    ("acme", "acme-sps-intacct-run-report"),
    ("acme-2", "acme-2-sps-intacct-run-report"),
])
def test_a_valid_tenant_name_is_its_artifact_key_prefix(tenant, key):
    assert artifact_key(tenant, "sps-intacct-run-report") == key


def test_artifact_keys_of_names_prefect_would_refuse_are_sanitized_and_never_shared():
    from prefect.client.schemas.actions import ArtifactCreate  # what create_table_artifact validates with

    with pytest.raises(ValueError):
        ArtifactCreate(key="Acme_Co-sps-intacct-run-report")
    keys = {t: artifact_key(t, "sps-intacct-run-report") for t in ("Acme_Co", "acme-co", "ACME CO", "__")}
    for key in keys.values():
        assert ArtifactCreate(key=key).key == key
    assert keys["Acme_Co"].startswith("acme-co-") and keys["acme-co"] == "acme-co-sps-intacct-run-report"
    assert len(set(keys.values())) == len(keys)


# -- automations per tenant (objects; tests/flows/test_operations_tenants.py creates them) ------


def test_automations_are_per_tenant_for_the_integrations_it_configures(tmp_path):
    acme = load_tenant(tenant_file(tmp_path, "acme"))
    beta = load_tenant(tenant_file(tmp_path, "beta", sterling=True))
    made = {t: automations(t, m) for t, m in (("acme", acme), ("beta", beta))}
    for tenant, objects in made.items():
        *alerts, zombie = objects
        assert zombie.name == ZOMBIE_AUTOMATION
        assert all(a.name.startswith(f"{AUTOMATION_PREFIX}: {tenant}: ") for a in alerts)
        for a in alerts:
            flow, tag = [spec.model_dump() for spec in a.trigger.match_related]
            assert flow["prefect.resource.role"] == "flow"
            assert tag == {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.tenant:{tenant}"}
    def integration(name: str, tenant: str) -> str:
        return name.removeprefix(f"{AUTOMATION_PREFIX}: {tenant}: ").removesuffix(" run failed").removesuffix(" absent")

    integrations = {t: {integration(a.name, t) for a in objs[:-1]} for t, objs in made.items()}
    assert integrations["acme"] == {"sps-intacct", "intacct-sps"}
    assert integrations["beta"] == {"sps-intacct", "intacct-sps", "intacct-sterling", "sterling-inbound"}
