"""Settings from ML_CONNECTOR_* variables: read fresh, one clear line on a bad value, and the
documented table in step with the model."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ml_connector import settings
from ml_connector.settings import Settings, SettingsError

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
PACKAGE = Path(settings.__file__).resolve().parent


def test_the_doc_carries_the_models_table():
    text = DOC.read_text(encoding="utf-8")
    assert settings.markdown_table() in text, "docs/settings.md is stale: paste `python -m ml_connector.settings`"
    for name, info in Settings.model_fields.items():
        assert f"| `{settings.env_name(name)}` |" in text
        assert info.description, f"{name} has no description"


def test_every_variable_the_package_names_is_a_setting():
    from ml_connector.credentials import BLOCKS

    named = set()
    for path in PACKAGE.rglob("*.py"):
        named |= set(re.findall(r"ML_CONNECTOR_[A-Z][A-Z_]*[A-Z]", path.read_text(encoding="utf-8")))
    known = {settings.env_name(name) for name in Settings.model_fields}
    # credentials are ML_CONNECTOR_<SYSTEM>_<FIELD> (ops/setup.py), named after the blocks' fields
    known |= {f"ML_CONNECTOR_{system.upper()}_{field.upper()}" for system, block in BLOCKS.items()
              for field in block.model_fields}
    assert named - known == set()


def test_defaults_without_any_variable(monkeypatch, tmp_path):
    for name in Settings.model_fields:
        monkeypatch.delenv(settings.env_name(name), raising=False)
    monkeypatch.chdir(tmp_path)
    assert settings.intent_lease_seconds() == 600.0
    assert settings.max_document_bytes() == 5_000_000
    assert settings.max_response_bytes() == 64 * 1024 * 1024
    assert settings.call_deadline() == 300.0
    assert settings.sps_concurrency() == 32 and settings.tenant_concurrency() == 2
    assert settings.task_retry_delays() == [5.0, 30.0, 120.0]
    assert settings.webhook_dispatch() == "task-worker"
    assert settings.home() is None and settings.tenants_folder() is None
    assert settings.ledger_url() == f"sqlite:///{tmp_path / '.ml-connector' / 'ledger.db'}"


def test_a_variable_set_after_import_is_the_one_read(monkeypatch, tmp_path):
    monkeypatch.setenv("ML_CONNECTOR_INTENT_LEASE", "5")
    assert settings.intent_lease_seconds() == 5.0
    monkeypatch.setenv("ML_CONNECTOR_INTENT_LEASE", "7.5")
    assert settings.intent_lease_seconds() == 7.5
    monkeypatch.delenv("ML_CONNECTOR_INTENT_LEASE")
    assert settings.intent_lease_seconds() == 600.0
    monkeypatch.delenv("ML_CONNECTOR_LEDGER_URL", raising=False)
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(tmp_path / "home"))
    assert settings.ledger_url() == f"sqlite:///{tmp_path / 'home' / 'ledger.db'}"
    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", "sqlite:///elsewhere.db")
    assert settings.ledger_url() == "sqlite:///elsewhere.db"


def test_small_concurrency_is_at_least_one_and_dispatch_is_normalized(monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_SPS_CONCURRENCY", "0")
    monkeypatch.setenv("ML_CONNECTOR_TENANT_CONCURRENCY", "-3")
    monkeypatch.setenv("ML_CONNECTOR_WEBHOOK_DISPATCH", "  Trigger ")
    monkeypatch.setenv("ML_CONNECTOR_TASK_RETRY_DELAYS", "0, 1.5,")
    assert settings.sps_concurrency() == 1 and settings.tenant_concurrency() == 1
    assert settings.webhook_dispatch() == "trigger"
    assert settings.task_retry_delays() == [0.0, 1.5]


def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_INTENT_LEASE", "abc")
    with pytest.raises(SettingsError) as info:
        settings.intent_lease_seconds()
    message = str(info.value)
    assert "\n" not in message and message.startswith("bad setting: ML_CONNECTOR_INTENT_LEASE='abc': ")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(SettingsError, match="ML_CONNECTOR_INTENT_LEASE"):
        settings.max_document_bytes()  # nothing goes on with half the configuration read


def test_every_bad_variable_is_named_and_a_ledger_url_never_echoed(monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_TASK_RETRY_DELAYS", "5,soon")
    monkeypatch.setenv("ML_CONNECTOR_WEBHOOK_DISPATCH", "carrier-pigeon")
    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", "postgresql+psycopg://ops:s3cret@db/ledger")
    with pytest.raises(SettingsError) as info:
        settings.ledger_url()
    message = str(info.value)
    assert "ML_CONNECTOR_TASK_RETRY_DELAYS='5,soon': 'soon' is not a number of seconds" in message
    assert "ML_CONNECTOR_WEBHOOK_DISPATCH='carrier-pigeon': must be one of trigger, task-worker" in message
    assert "s3cret" not in message


def test_the_table_printed_by_the_module_is_the_docs():
    out = subprocess.run([sys.executable, "-m", "ml_connector.settings"], capture_output=True, text=True, check=True)
    assert out.stdout == settings.markdown_table()


def test_the_cli_says_one_line_and_starts_nothing(monkeypatch, capsys):
    from ml_connector import cli

    monkeypatch.setenv("ML_CONNECTOR_INTENT_LEASE", "abc")
    monkeypatch.setattr(cli, "_parser", _parser_that_must_not_run(cli._parser))
    assert cli.main(["--workdir", ".", "status", "--tenant", "acme"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: bad setting: ML_CONNECTOR_INTENT_LEASE='abc'")


def _parser_that_must_not_run(make):
    def parser():
        p = make()
        for action in p._subparsers._group_actions:
            for sub in action.choices.values():
                sub.set_defaults(func=lambda args: pytest.fail("a command ran on a bad setting"))
        return p
    return parser
