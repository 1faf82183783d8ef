"""The QBO parts of the console script: ``sandbox serve --system qbo`` over real HTTP, and
``preview --integration sps-qbo`` / ``qbo-sps``."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_connector.cli import main
from ml_connector.connectors.qbo import MemoryTokenStore, QboClient, QboConfig, TokenSet
from tests.test_cli import Served, announced

FIXTURES = Path(__file__).parents[2] / "fixtures"


def test_sandbox_serve_qbo_announces_itself_and_a_client_connects_with_what_it_printed():
    served = Served("qbo", "--documents", "4")
    try:
        info = announced(served, "qbo")
        creds = info["credentials"]
        assert creds["base_url"] == info["base_url"] and creds["token_url"].startswith(info["base_url"])
        config = QboConfig(realm_id=creds["realm_id"], client_id=creds["client_id"],
                           client_secret=creds["client_secret"], base_url=creds["base_url"],
                           token_url=creds["token_url"])
        store = MemoryTokenStore(TokenSet(refresh_token=creds["refresh_token"]))
        with QboClient(config, store) as client:
            invoices = list(client.iter_query("Invoice"))
            vendors = list(client.iter_query("Vendor"))
        assert len(invoices) == 4 and len(vendors) == 4  # the demo-qbo company, Ids as in its tenant file
        assert store.load().refresh_token.get_secret_value() != creds["refresh_token"]  # rotated and kept
    finally:
        served.stop()


def test_preview_sps_qbo_prints_the_purchase_order_body(capsys, monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(FIXTURES / "golden" / "qbo"))  # tenant.yaml there
    code = main(["preview", "--integration", "sps-qbo", "--tenant", "tenant", str(FIXTURES / "sps" / "PO584616.xml")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "-> QBO PurchaseOrder PO584616 for vendor 56" in out
    assert '"DocNumber": "PO584616"' in out and '"ItemBasedExpenseLineDetail"' in out


def test_preview_qbo_sps_prints_invoice_and_shipment_rsx(capsys, monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(FIXTURES / "golden" / "qbo"))
    code = main(["preview", "--integration", "qbo-sps", "--tenant", "tenant",
                 str(FIXTURES / "golden" / "qbo" / "invoice_shipped.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "<Invoices" in out and "<Shipments" in out and "<ShipmentIdentification>INV-1037<" in out


@pytest.mark.parametrize("content", [b"{not json", b'{"Invoice": {"Line": "nope"}}', b"[]"])
def test_preview_qbo_sps_of_a_bad_file_is_one_error_line_exit_2(tmp_path, capsys, monkeypatch, content):
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(FIXTURES / "golden" / "qbo"))
    path = tmp_path / "invoice.json"
    path.write_bytes(content)
    code = main(["preview", "--integration", "qbo-sps", "--tenant", "tenant", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


def test_preview_sps_qbo_defaults_to_the_demo_qbo_tenant(capsys):
    code = main(["preview", "--integration", "sps-qbo", str(FIXTURES / "sps" / "PO584616.xml")])
    captured = capsys.readouterr()
    # the fixture's items are not in demo-qbo's cross-reference: a one-line reason naming the item
    assert code == 2 and "unknown item" in captured.err and captured.err.count("\n") == 1
