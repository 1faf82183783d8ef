"""The ``ml-connector`` console script: preview both ways, and sandbox serve over real HTTP."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from lxml import etree

from ml_connector.cli import main
from ml_connector.connectors.intacct.codec import Login, build_request, get_api_session_function
from ml_connector.connectors.intacct.models import ArInvoice, ArInvoiceLine

REPO = Path(__file__).resolve().parents[1]
SPS_FIXTURES = REPO / "tests" / "fixtures" / "sps"
INVOICE_FIXTURE = SPS_FIXTURES / "IN584616-1-v7.7-DropShip.json"


@pytest.fixture(autouse=True)
def demo_tenant(monkeypatch):
    """The repository's tenants/demo.yaml, whatever the working directory."""
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(REPO / "tenants"))


def resolvable_invoice(tmp_path: Path, *, partner: str = "SPSALLTESTID") -> Path:
    """The SPS sample invoice with its buyer part swapped for one the demo tenant cross-references
    (B10004 -> HD-20), so it maps all the way to an APBILL."""
    text = INVOICE_FIXTURE.read_text().replace("SPSBuyerItem1", "B10004").replace("SPSALLTESTID", partner)
    path = tmp_path / "IN584616-1.json"
    path.write_text(text)
    return path


def assert_one_error_line(capsys, code: int) -> str:
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:")
    assert "Traceback" not in err
    return lines[0]


# --- preview sps-intacct -------------------------------------------------------------------


def test_preview_sps_invoice_prints_apbill_for_the_partner_vendor(tmp_path, capsys):
    code = main(["preview", "--integration", "sps-intacct", str(resolvable_invoice(tmp_path))])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "<APBILL>" in out
    assert "<RECORDID>IN584616-1</RECORDID>" in out
    assert "<VENDORID>V-SPSALL</VENDORID>" in out  # SPSALLTESTID's vendor in tenants/demo.yaml
    assert "<ITEMID>HD-20</ITEMID>" in out
    assert "<!-- invoice SPSALLTESTID IN584616-1 -> APBILL IN584616-1 for V-SPSALL, total 23.50 -->" in out
    body = out[out.index("<create>"):]
    create = etree.fromstring(body.encode())
    assert create.findtext("APBILL/CURRENCY") == "USD"
    assert [i.findtext("TRX_AMOUNT") for i in create.iter("APBILLITEM")] == ["20.00", "4.50", "-1.00"]


def test_preview_sps_order_with_known_items_from_the_repo_fixtures(capsys):
    code = main(["preview", "--integration", "sps-intacct", str(SPS_FIXTURES / "PO_legacy_LineItems.xml")])
    out, _ = capsys.readouterr()
    assert code == 0 and "<APBILL>" in out and "<VENDORID>V-ACMEDI</VENDORID>" in out


def test_preview_of_a_document_routed_nowhere_says_skipped(capsys):
    code = main(["preview", "--integration", "sps-intacct",
                 str(SPS_FIXTURES / "PR584616-1-v7.7-DropShip_AllAccept_With_Change.json")])
    out, _ = capsys.readouterr()
    assert code == 0 and "routed nowhere (skipped)" in out and "<APBILL>" not in out


@pytest.mark.parametrize("content", [b'{\n  "Header": {', b"<Invoices><Invoice>", b"\x00\x01 not a document"],
                         ids=["json", "xml", "binary"])
def test_preview_of_a_malformed_file_is_one_error_line_exit_2(tmp_path, capsys, content):
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    code = main(["preview", "--integration", "sps-intacct", str(path)])
    assert_one_error_line(capsys, code)


def test_preview_of_a_missing_file_is_one_error_line_exit_2(tmp_path, capsys):
    code = main(["preview", "--integration", "sps-intacct", str(tmp_path / "nope.json")])
    line = assert_one_error_line(capsys, code)
    assert "nope.json" in line


def test_preview_of_an_unknown_partner_is_one_error_line_exit_2(tmp_path, capsys):
    code = main(["preview", "--integration", "sps-intacct", str(resolvable_invoice(tmp_path, partner="NOSUCHPARTNER"))])
    line = assert_one_error_line(capsys, code)
    assert "NOSUCHPARTNER" in line


def test_preview_of_an_unknown_item_is_one_error_line_exit_2(capsys):
    code = main(["preview", "--integration", "sps-intacct", str(INVOICE_FIXTURE)])
    line = assert_one_error_line(capsys, code)
    assert "SPSBuyerItem1" in line


def test_preview_with_an_unknown_tenant_is_one_error_line_exit_2(tmp_path, capsys):
    code = main(["preview", "--integration", "sps-intacct", "--tenant", "no-such-tenant", str(resolvable_invoice(tmp_path))])
    assert_one_error_line(capsys, code)


# --- preview intacct-sps -------------------------------------------------------------------


def ar_invoice_file(tmp_path: Path, customer_id: str = "C-SPSALL") -> Path:
    invoice = ArInvoice(
        record_no="501", record_id="AR-1001", customer_id=customer_id,
        when_created=date(2024, 5, 1), when_due=date(2024, 5, 31),
        when_modified=datetime(2024, 5, 1, 12, tzinfo=UTC),
        po_number="PO584616-1", currency="USD", total=Decimal("42.50"),
        lines=(ArInvoiceLine(amount=Decimal("42.50"), item_id="WID-100", quantity=Decimal("10"),
                             unit_price=Decimal("4.25")),),
    )
    path = tmp_path / "ar-1001.json"
    path.write_text(invoice.model_dump_json())
    return path


def test_preview_ar_invoice_prints_rsx_invoices_for_the_partner(tmp_path, capsys):
    code = main(["preview", "--integration", "intacct-sps", str(ar_invoice_file(tmp_path))])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "<Invoices" in out
    root = etree.fromstring(out.strip().encode())
    ns = {"r": "http://www.spscommerce.com/RSX"}
    assert root.findtext("r:Invoice/r:Header/r:InvoiceHeader/r:TradingPartnerId", namespaces=ns) == "SPSALLTESTID"
    assert root.findtext("r:Invoice/r:Header/r:InvoiceHeader/r:InvoiceNumber", namespaces=ns) == "AR-1001"
    assert root.findtext("r:Invoice/r:LineItem/r:InvoiceLine/r:BuyerPartNumber", namespaces=ns) == "B10001"
    assert root.findtext("r:Invoice/r:Summary/r:TotalAmount", namespaces=ns) == "42.50"


def test_preview_ar_invoice_for_an_unmapped_customer_is_one_error_line(tmp_path, capsys):
    code = main(["preview", "--integration", "intacct-sps", str(ar_invoice_file(tmp_path, customer_id="C-NOBODY"))])
    assert "C-NOBODY" in assert_one_error_line(capsys, code)


def test_preview_ar_invoice_that_is_not_json_is_one_error_line(tmp_path, capsys):
    path = tmp_path / "ar.json"
    path.write_text('{"record_no": "1",\n "total": "lots"}')
    code = main(["preview", "--integration", "intacct-sps", str(path)])
    assert "not an AR invoice JSON record" in assert_one_error_line(capsys, code)


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: ml-connector" in capsys.readouterr().out


# --- sandbox serve over real HTTP ---------------------------------------------------------


class Served:
    """``ml-connector sandbox serve`` in a subprocess, and its first stdout line."""

    def __init__(self, system: str, *extra: str) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ml_connector.cli", "sandbox", "serve", "--system", system, "--port", "0", *extra],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)

    def first_line(self, timeout: float = 20.0) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line on stdout in {timeout}s (exit code {self.proc.poll()})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


def announced(served: Served, system: str) -> dict:
    line = served.first_line()
    info = json.loads(line)
    assert set(info) == {"system", "base_url", "credentials"}
    assert info["system"] == system
    assert info["base_url"].startswith("http://127.0.0.1:")
    port = int(info["base_url"].rsplit(":", 1)[1])
    assert 0 < port < 65536
    return info


def sps_token(http: httpx.Client, info: dict) -> str:
    creds = info["credentials"]
    assert creds["token_url"] == info["base_url"] + "/oauth/token"
    token = http.post(info["base_url"] + "/oauth/token", data={
        "grant_type": "client_credentials", "client_id": creds["client_id"],
        "client_secret": creds["client_secret"], "audience": creds["audience"],
    })
    assert token.status_code == 200, token.text
    return token.json()["access_token"]


def test_sandbox_serve_sps_announces_itself_and_serves_oauth_and_listing():
    served = Served("sps")
    try:
        info = announced(served, "sps")
        base = info["base_url"]
        with httpx.Client(timeout=10, trust_env=False) as http:
            access = sps_token(http, info)
            listing = http.get(base + "/transactions/v5/data/out/", headers={"Authorization": f"Bearer {access}"})
            assert listing.status_code == 200, listing.text
            assert listing.json() == {"results": None, "paging": None}  # SPS answers an empty listing with nulls
            assert http.get(base + "/transactions/v5/data/out/").status_code == 401
    finally:
        served.stop()


def test_sandbox_serve_sps_with_seeded_documents_lists_them():
    served = Served("sps", "--documents", "3")
    try:
        info = announced(served, "sps")
        base = info["base_url"]
        with httpx.Client(timeout=10, trust_env=False) as http:
            access = sps_token(http, info)
            listing = http.get(base + "/transactions/v5/data/out/", headers={"Authorization": f"Bearer {access}"})
        assert listing.status_code == 200, listing.text
        results = listing.json()["results"]
        assert results and all(r["path"].startswith("/out/") for r in results)
        assert {r["type"] for r in results} <= {"file", "directory"}
    finally:
        served.stop()


def test_sandbox_serve_intacct_announces_itself_and_opens_an_api_session():
    served = Served("intacct")
    try:
        info = announced(served, "intacct")
        creds = info["credentials"]
        assert creds["endpoint_url"].startswith(info["base_url"])
        body = build_request(
            [get_api_session_function()], sender_id=creds["sender_id"], sender_password=creds["sender_password"],
            control_id="cli-test-1", uniqueid=False,
            login=Login(creds["user_id"], creds["company_id"], creds["user_password"]),
        )
        with httpx.Client(timeout=10, trust_env=False) as http:
            response = http.post(creds["endpoint_url"], content=body, headers={"Content-Type": "application/xml"})
        assert response.status_code == 200
        assert b"<status>success</status>" in response.content
        root = etree.fromstring(response.content)
        assert root.findtext("control/status") == "success"
        assert root.findtext("operation/result/status") == "success"
        assert root.findtext("operation/result/data/api/sessionid")
    finally:
        served.stop()
