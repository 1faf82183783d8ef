"""Every user mistake is one line on stderr and an exit code (0 done, 1 needs attention, 2 usage or
input error), never a traceback: tenant files, credentials files, an unreachable Prefect API,
the work dir, and credentials that do not work."""

from __future__ import annotations

import uuid
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from ml_connector.cli import main
from ml_connector.sandbox.serve import free_port

REPO = Path(__file__).resolve().parents[1]
DEMO = (REPO / "tenants" / "demo.yaml").read_text()
INTACCT_KEYS = "endpoint_url, sender_id, sender_password, company_id, user_id, user_password, location_id, verify_tls"
PARTNER_KEYS = ("name, vendor_id, customer_id, dimensions, gl_accounts, routes, due_days, currency, "
                "so_transaction_type")


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    """A work dir with tenants/ (acme written by each test) as the current directory, and no
    tenant folder or ledger from the environment."""
    for name in ("ML_CONNECTOR_TENANTS", "ML_CONNECTOR_WORKDIR", "ML_CONNECTOR_LEDGER_URL", "ML_CONNECTOR_HOME"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "tenants").mkdir()
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    from ml_connector.runtime.tenant import reset

    reset()


def acme(workdir: Path, text: str) -> None:
    (workdir / "tenants" / "acme.yaml").write_text(text)


def one_line(capsys, code: int, expected_code: int = 2) -> str:
    out, err = capsys.readouterr()
    assert code == expected_code, (code, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


# -- tenant mapping files -------------------------------------------------------------------------


def test_a_key_typo_in_a_tenant_file_names_file_line_key_path_and_the_allowed_keys(workdir, capsys):
    acme(workdir, DEMO.replace("    due_days: 45", "    due_dayz: 45", 1))
    assert one_line(capsys, main(["status", "--tenant", "acme"])) == (
        "error: tenants/acme.yaml line 11: partners.ACMEDIST0001.due_dayz: unknown key 'due_dayz' "
        f"(allowed: {PARTNER_KEYS})")


def test_a_nested_typo_lists_the_keys_allowed_at_that_level(workdir, capsys):
    acme(workdir, DEMO.replace("{department: PURCH, location: WEST}", "{department: PURCH, locaton: WEST}", 1))
    assert one_line(capsys, main(["preview", "--integration", "sps-intacct", "--tenant", "acme",
                                  str(REPO / "tests/fixtures/sps/PO584616.xml")])) == (
        "error: tenants/acme.yaml line 9: partners.ACMEDIST0001.dimensions.locaton: unknown key 'locaton' "
        "(allowed: department, location, class)")


def test_a_wrong_value_says_what_is_allowed(workdir, capsys):
    acme(workdir, "tenant: acme\npartners:\n  P1:\n    name: n\n    vendor_id: V\n"
                  "    gl_accounts: {order: a, invoice: b, shipment: c, charges: d, allowances: e}\n"
                  "    routes: {order: bill}\n")
    assert one_line(capsys, main(["status", "--tenant", "acme"])) == (
        "error: tenants/acme.yaml line 7: partners.P1.routes.order: "
        "Input should be 'apbill', 'skip' or 'salesorder' (got 'bill')")


def test_a_missing_key_is_named(workdir, capsys):
    acme(workdir, "tenant: acme\npartners:\n  P1:\n    name: n\n    vendor_id: V\n")
    assert one_line(capsys, main(["check", "--tenant", "acme"])) == (
        "error: tenants/acme.yaml line 3: partners.P1.gl_accounts: required key missing")


def test_bad_yaml_indentation_names_file_and_line(workdir, capsys):
    acme(workdir, DEMO.replace("    name: Acme Distribution", "   name: Acme Distribution", 1))
    assert one_line(capsys, main(["status", "--tenant", "acme"])) == (
        "error: tenants/acme.yaml line 7: not valid YAML: mapping values are not allowed here")


def test_a_missing_tenant_file_is_one_line(workdir, capsys):
    line = one_line(capsys, main(["reconcile", "--tenant", "acme"]))
    assert line.startswith(f"error: no mapping file for tenant 'acme' (looked in {workdir / 'tenants'}")


def test_load_tenant_raises_one_clean_error_type_for_flows_too(workdir):
    from ml_connector.mappings.tenant import TenantFileError, TenantNotFound, load_tenant

    acme(workdir, "tenant: [")
    with pytest.raises(TenantFileError, match=r"^tenants/acme.yaml line 1: not valid YAML: "):
        load_tenant("tenants/acme.yaml")
    with pytest.raises(TenantNotFound, match="^tenants/nope.yaml: no such tenant mapping file$"):
        load_tenant("tenants/nope.yaml")
    assert issubclass(TenantNotFound, FileNotFoundError) and issubclass(TenantFileError, ValueError)


# -- credentials files given to setup ---------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("intacct:\n  sender_id: a\n sender_password: b\n",
     "line 3: not valid YAML: expected <block end>, but found '<block mapping start>'"),
    ("intact: {sender_id: a}\n", "line 1: unknown key 'intact' (allowed: intacct, sps, sterling, qbo, adobe, alerts)"),
    ("intacct:\n  sender_id: a\n  sender_pasword: b\n",
     f"line 3: intacct.sender_pasword: unknown key 'sender_pasword' (allowed: {INTACCT_KEYS})"),
    ("intacct: {sender_id: a, sender_password: b, company_id: c, user_id: d}\n",
     "line 1: intacct.user_password: required key missing"),
    ("alerts: {notify: ops}\n", "line 1: alerts.notify: unknown key 'notify' (allowed: notify_block)"),
], ids=["yaml", "unknown-system", "unknown-field", "missing-field", "alerts"])
def test_a_broken_credentials_file_is_one_line_naming_file_and_key(workdir, capsys, text, expected):
    (workdir / "creds.yaml").write_text(text)
    assert one_line(capsys, main(["setup", "--tenant", "acme", "--file", "creds.yaml"])) == f"error: creds.yaml {expected}"


def test_a_missing_credentials_file_is_one_line(workdir, capsys):
    assert one_line(capsys, main(["setup", "--tenant", "acme", "--file", "nope.yaml"])) == (
        "error: nope.yaml: no such credentials file")


# -- an unreachable Prefect API is Prefect's fault, not the target's --------------------------------


@pytest.fixture()
def dead_prefect(monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = f"http://127.0.0.1:{free_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", url)  # the demo reads the environment (it sets Prefect's home first)
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield url


@pytest.mark.parametrize("command", [["check", "--tenant", "acme"], ["reconcile", "--tenant", "acme"],
                                     ["setup", "--tenant", "acme", "--file", "creds.yaml"], ["demo"]],
                         ids=lambda c: c[0])
def test_an_unreachable_prefect_api_is_named_with_its_url(workdir, dead_prefect, capsys, command):
    acme(workdir, DEMO)
    (workdir / "creds.yaml").write_text(yaml.safe_dump({"intacct": {
        "sender_id": "s", "sender_password": "p", "company_id": "c", "user_id": "u", "user_password": "p"}}))
    assert one_line(capsys, main(command)) == (
        f"error: the Prefect API at {dead_prefect} is unreachable (ConnectError: [Errno 111] Connection refused); "
        "this is Prefect, not the target system: start the server (prefect server start) or fix PREFECT_API_URL")


# -- version, work dir, new ledgers, replay of nothing ----------------------------------------------


def test_version_comes_from_the_package_metadata(capsys):
    import ml_connector

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"ml-connector {version('ml-connector')}\n"
    assert ml_connector.__version__ == version("ml-connector")


@pytest.mark.parametrize("how", ["environment", "option"])
def test_the_work_dir_is_honoured_and_a_new_ledger_is_announced_once(workdir, tmp_path_factory, monkeypatch,
                                                                     capsys, how):
    acme(workdir, DEMO)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    if how == "environment":
        monkeypatch.setenv("ML_CONNECTOR_WORKDIR", str(workdir))
        argv = ["status", "--tenant", "acme"]
    else:
        argv = ["--workdir", str(workdir), "status", "--tenant", "acme"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    ledger = workdir / ".ml-connector" / "ledger.db"
    assert err == (f"note: creating a new ledger at {ledger} (no ledger there yet; the ledger is found from "
                   "ML_CONNECTOR_WORKDIR or --workdir, else the current directory)\n")
    assert ledger.exists() and "acme" in out
    assert main(argv) == 0
    assert capsys.readouterr().err == ""  # the ledger exists now: nothing to say


def test_a_missing_work_dir_is_one_line(workdir, monkeypatch, capsys):
    monkeypatch.setenv("ML_CONNECTOR_WORKDIR", str(workdir / "nope"))
    assert one_line(capsys, main(["status", "--tenant", "acme"])) == (
        f"error: work dir {workdir / 'nope'} (ML_CONNECTOR_WORKDIR): No such file or directory")


def test_a_preview_file_stays_relative_to_where_the_command_was_typed(workdir, tmp_path_factory, monkeypatch,
                                                                     capsys):
    here = tmp_path_factory.mktemp("here")
    invoice = (REPO / "tests/fixtures/sps/IN584616-1-v7.7-DropShip.json").read_text()
    (here / "invoice.json").write_text(invoice.replace("SPSBuyerItem1", "B10004"))  # an item demo.yaml knows
    monkeypatch.chdir(here)
    monkeypatch.setenv("ML_CONNECTOR_WORKDIR", str(workdir))
    acme(workdir, DEMO)
    assert main(["preview", "--integration", "sps-intacct", "--tenant", "acme", "invoice.json"]) == 0
    assert "APBILL" in capsys.readouterr().out


def test_a_replay_that_matches_nothing_exits_1_and_says_so(workdir, capsys):
    acme(workdir, DEMO)
    assert main(["status", "--tenant", "acme"]) == 0  # the ledger exists (its note is another test's)
    capsys.readouterr()
    code = main(["replay", "--tenant", "acme", "--integration", "sps-intacct", "--status", "quarantined"])
    assert one_line(capsys, code, 1) == "nothing to replay: no quarantined documents of sps-intacct for tenant acme"


# -- setup tries the credentials before saving them -------------------------------------------------


@pytest.fixture()
def served_intacct():
    from ml_connector.sandbox.intacct import IntacctEmulator
    from ml_connector.sandbox.serve import serve_in_thread

    emulator = IntacctEmulator()
    served = serve_in_thread(emulator)
    try:
        yield emulator
    finally:
        served.stop()


def test_setup_refuses_credentials_that_do_not_sign_in_and_saves_nothing(prefect_server, workdir, served_intacct,
                                                                        capsys):
    from ml_connector.credentials import IntacctCredentials

    tenant = f"verify-{uuid.uuid4().hex[:6]}"
    (workdir / "tenants" / f"{tenant}.yaml").write_text(DEMO)
    wrong = served_intacct.credentials() | {"user_password": "not-the-password"}
    (workdir / "creds.yaml").write_text(yaml.safe_dump({"intacct": wrong}))
    line = one_line(capsys, main(["setup", "--tenant", tenant, "--file", "creds.yaml", "--no-automations"]))
    assert line.startswith("error: credentials not saved, intacct: ")
    assert line.endswith("(fix them, or --no-verify saves them unchecked)")
    assert "not-the-password" not in line
    with pytest.raises(ValueError):
        IntacctCredentials.load(f"{tenant}-intacct")

    assert main(["setup", "--tenant", tenant, "--file", "creds.yaml", "--no-automations", "--no-verify"]) == 0
    assert capsys.readouterr().out == f"saved block {tenant}-intacct\n"
    assert IntacctCredentials.load(f"{tenant}-intacct").user_id == wrong["user_id"]

    (workdir / "creds.yaml").write_text(yaml.safe_dump({"intacct": served_intacct.credentials()}))
    assert main(["setup", "--tenant", tenant, "--file", "creds.yaml", "--no-automations"]) == 0
    assert capsys.readouterr().out == f"saved block {tenant}-intacct\n"
    IntacctCredentials.delete(f"{tenant}-intacct")
