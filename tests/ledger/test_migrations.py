"""Ledger schema versions: a new ledger starts at head, an older one is refused in one line until
``upgrade`` moves it there keeping every row, and nothing is guessed."""

from __future__ import annotations

import pytest
from legacy import write_legacy_ledger  # tests/ledger is on sys.path (pytest's prepend import mode)
from sqlalchemy import create_engine, text

from ml_connector.ledger import migrate
from ml_connector.ledger.migrate import HEAD, LedgerSchemaError
from ml_connector.ledger.schema import POSTED
from ml_connector.ledger.store import Incoming, Ledger
from ml_connector.ledger.x12_controls import next_control_numbers

SI = "sps-intacct"


def _url(tmp_path, name="ledger.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def test_a_new_ledger_starts_at_the_current_schema(tmp_path):
    url = _url(tmp_path)
    ledger = Ledger(url, tenant="acme")
    assert migrate.revision(ledger.engine) == HEAD
    assert migrate.upgrade(url) == (HEAD, HEAD)  # nothing to do, said so


def test_a_ledger_from_before_tenants_is_refused_in_one_line_until_upgraded(tmp_path):
    url = _url(tmp_path)
    write_legacy_ledger(url)
    with pytest.raises(LedgerSchemaError) as refused:
        Ledger(url, tenant="acme")
    message = str(refused.value)
    assert "\n" not in message and "ml-connector ledger upgrade --tenant" in message


def test_upgrade_refuses_to_guess_the_tenant_of_existing_rows(tmp_path):
    url = _url(tmp_path)
    write_legacy_ledger(url)
    with pytest.raises(LedgerSchemaError, match="--tenant"):
        migrate.upgrade(url)
    assert migrate.revision(create_engine(url)) == "unversioned"  # left as it was


def test_upgrade_keeps_every_row_under_the_named_tenant(tmp_path):
    url = _url(tmp_path)
    write_legacy_ledger(url, documents=5)
    assert migrate.upgrade(url, tenant="acme") == ("unversioned", HEAD)
    acme = Ledger(url, tenant="acme")
    rows = acme.documents(SI)
    assert [r.natural_key for r in rows] == [f"PO-{n}" for n in range(5)]
    assert {r.status for r in rows} == {POSTED} and rows[0].idempotency_key == "mlc-old-0"
    assert acme.get_cursor(SI) == "c-41"
    assert acme.run_counts(SI, "old-run")["posted"] == 5
    assert next_control_numbers(acme, "WALMART", 1) == [42]  # the sequence goes on
    # the upgraded rows are acme's alone: another tenant starts empty and may reuse the keys
    beta = acme.for_tenant("beta")
    assert beta.documents(SI) == [] and beta.get_cursor(SI) is None
    assert len(beta.ingest(SI, [Incoming("order", "WALMART", "PO-1", "x", b"<Order/>")], "r").new_ids) == 1
    again = acme.ingest(SI, [Incoming("order", "WALMART", "PO-1", "x", b"<Order/>")], "r")
    assert again.new_ids == [] and again.duplicates == 1


def test_an_empty_ledger_from_before_tenants_upgrades_without_a_tenant(tmp_path):
    url = _url(tmp_path)
    write_legacy_ledger(url, documents=0, with_x12=False)
    assert migrate.upgrade(url) == ("unversioned", HEAD)
    assert Ledger(url, tenant="acme").documents(SI) == []


def test_a_ledger_from_a_newer_build_is_refused(tmp_path):
    url = _url(tmp_path)
    Ledger(url, tenant="acme").dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE ledger_schema_version SET version_num = '0099'"))
    with pytest.raises(LedgerSchemaError, match="newer ml-connector"):
        Ledger(url, tenant="acme")
    with pytest.raises(LedgerSchemaError, match="newer ml-connector"):
        migrate.upgrade(url, tenant="acme")


def test_an_unversioned_ledger_that_already_has_tenants_is_refused_not_guessed(tmp_path):
    url = _url(tmp_path)
    Ledger(url, tenant="acme").dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE ledger_schema_version"))
    with pytest.raises(LedgerSchemaError, match="refusing to guess"):
        migrate.upgrade(url, tenant="acme")


def test_the_refusal_never_shows_the_password():
    engine = create_engine("postgresql+psycopg://user:s3cret@127.0.0.1:1/ledger")
    message = migrate._refusal(engine, "unversioned")
    assert "s3cret" not in message and "***" in message
