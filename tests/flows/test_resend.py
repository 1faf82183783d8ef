"""Resend on purpose (``replay --resend`` and the replay deployment's ``resend`` parameter): a
posted document sent again under a new idempotency generation, audited with who and why, and
refused in one line, with nothing changed, where the target would double it."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
import yaml
from prefect.utilities.callables import parameter_schema
from sqlalchemy import func, select

from ml_connector.cli import main
from ml_connector.connectors import x12
from ml_connector.connectors.sps import rsx
from ml_connector.flows.intacct_to_sps import intacct_to_sps
from ml_connector.flows.intacct_to_sterling import intacct_to_sterling
from ml_connector.flows.replay import replay
from ml_connector.flows.sps_to_intacct import sps_to_intacct
from ml_connector.flows.sps_to_qbo import sps_to_qbo
from ml_connector.ledger.schema import FAILED, POSTED, RESEND, document_events
from ml_connector.tasks.sps import outbox_path
from tests.flows.test_intacct_sterling_flows import seed_bills, sworld  # noqa: F401 - a fixture
from tests.flows.test_operations import run_with_missing_account
from tests.flows.test_sps_qbo_flows import TENANT as QBO_TENANT
from tests.flows.test_sps_qbo_flows import qworld_factory  # noqa: F401 - a fixture

OUT, IN, X12 = "intacct-sps", "sps-intacct", "intacct-sterling"
REPO = Path(__file__).resolve().parents[2]


def x12_controls(content) -> str:
    """The interchange control number (ISA13) of a delivered X12 interchange."""
    return x12.parse(content).control_number


def resend_events(ledger, doc_id: int) -> list[str]:
    with ledger.engine.connect() as conn:
        return list(conn.execute(select(document_events.c.reason).where(
            document_events.c.document_id == doc_id, document_events.c.event == RESEND)).scalars())


def snapshot(world, integration: str) -> tuple:
    """What a refused resend must leave as it was: the documents, the events, the deliveries."""
    ledger = world.ledger
    rows = [(d.id, d.status, d.idempotency_key, d.revision, d.attempts, d.resending)
            for d in ledger.documents(integration)]
    with ledger.engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(document_events)).scalar()
    return rows, events, len(world.sps.deliveries())


def posted_invoice(world):
    world.sps.pickup_after = 0  # SPS takes each file at once: its delivery log is what the retailer got
    world.add_ar_invoices(3)
    state = intacct_to_sps(tenant="demo", return_state=True)
    assert state.is_completed(), state.message
    invoice = next(d for d in world.ledger.documents(OUT, status=POSTED) if d.doc_type == "invoice")
    return invoice


def invoice_sent(delivery) -> dict:
    """The RSX invoice a retailer received, without its purpose code (docs/resend.md: a resend
    takes the purpose of the revision's effect)."""
    [(_, doc)] = rsx.parse(delivery.content, filename=delivery.path.rsplit("/", 1)[-1])
    doc.header.invoice_header.tset_purpose_code = None
    return doc.model_dump()


def delivered_for(world, number: str) -> list:
    return [d for d in world.sps.deliveries() if number in d.path]


def test_a_resent_rsx_invoice_reaches_sps_as_a_second_file_and_is_audited(world):
    invoice = posted_invoice(world)
    [first] = delivered_for(world, invoice.natural_key)
    assert first.path == outbox_path("invoice", invoice.partner, invoice.natural_key,
                                     world.mapping.outbound.invoice_format)
    result = replay(integration=OUT, tenant="demo", ids=[invoice.id], resend=True, who="dana",
                    why="retailer lost it")
    assert result["resent"] == 1 and result["posted"] == 1
    files = delivered_for(world, invoice.natural_key)
    assert len(files) == 2 and files[1].path != first.path  # a new transaction to the retailer
    assert invoice_sent(files[1]) == invoice_sent(first)  # the same invoice, sent again
    assert world.sps.delivered_twice() == {}
    assert resend_events(world.ledger, invoice.id) == ["dana: retailer lost it"]
    [row] = world.ledger.documents(OUT, ids=[invoice.id])
    assert row.status == POSTED and row.idempotency_key != invoice.idempotency_key
    # sent once more only when asked: the next run sends nothing
    assert intacct_to_sps(tenant="demo", return_state=True).result()["posted"] == 0
    assert len(delivered_for(world, invoice.natural_key)) == 2


def test_a_resent_sps_bill_is_rewritten_in_place_not_doubled(world):
    world.add_documents(6)
    assert sps_to_intacct(tenant="demo", return_state=True).is_completed()
    doc = world.ledger.documents(IN, status=POSTED)[0]
    before = world.bill_counts()
    result = replay(integration=IN, tenant="demo", ids=[doc.id], resend=True, who="dana",
                    why="bill edited by hand in Intacct")
    assert result["resent"] == 1 and result["posted"] == 1
    assert world.bill_counts() == before and set(before.values()) == {1}  # one payable per bill
    assert resend_events(world.ledger, doc.id) == ["dana: bill edited by hand in Intacct"]


def test_a_resent_order_rewrites_its_qbo_purchase_order_and_brings_back_a_deleted_one(qworld_factory):  # noqa: F811
    w = qworld_factory()
    w.add_documents(4)
    assert sps_to_qbo(tenant=QBO_TENANT, return_state=True).is_completed()
    kept, gone = w.ledger.documents("sps-qbo", status=POSTED)[:2]
    w.qbo.remove("PurchaseOrder", gone.target_id)  # deleted in QBO by hand: the resend is what brings it back
    result = replay(integration="sps-qbo", tenant=QBO_TENANT, ids=[kept.id, gone.id], resend=True, who="dana",
                    why="PO deleted in QBO by mistake")
    assert result["resent"] == 2 and result["posted"] == 2
    assert set(w.po_counts()) == w.expected_numbers() and set(w.po_counts().values()) == {1}
    assert resend_events(w.ledger, gone.id) == ["dana: PO deleted in QBO by mistake"]


def test_an_x12_resend_goes_to_the_partner_again_under_new_control_numbers(sworld):  # noqa: F811
    w = sworld()
    seed_bills(w, 4)
    assert intacct_to_sterling(tenant="demo", return_state=True).is_completed()
    doc = next(d for d in w.ledger.documents(X12, status=POSTED) if d.doc_type == "810")
    partner = doc.partner
    before = [x12_controls(d["content"]) for d in w.sterling.delivered(partner)]
    result = replay(integration=X12, tenant="demo", ids=[doc.id], resend=True, who="dana",
                    why="partner rejected it in its 997")
    assert result["resent"] == 1 and result["posted"] == 1
    after = [x12_controls(d["content"]) for d in w.sterling.delivered(partner)]
    assert len(after) == len(before) + 1
    assert after[-1] not in before  # a new interchange, not the one the partner already received
    assert resend_events(w.ledger, doc.id) == ["dana: partner rejected it in its 997"]


def test_a_resend_the_target_would_double_is_refused_in_one_line_and_changes_nothing(sworld):  # noqa: F811
    w = sworld()
    seed_bills(w, 4)
    assert intacct_to_sterling(tenant="demo", return_state=True).is_completed()
    partner_row = next(d for d in w.ledger.documents(X12, status=POSTED) if d.doc_type == "partner")
    before, delivered = snapshot(w, X12), sum(len(w.sterling.delivered(p["partnerName"])) for p in w.sterling.partners())
    with pytest.raises(ValueError) as refused:
        replay(integration=X12, tenant="demo", ids=[partner_row.id], resend=True, who="dana", why="set it up again")
    message = str(refused.value)
    assert "\n" not in message and f"document {partner_row.id} (partner" in message and "nothing to resend" in message
    assert snapshot(w, X12) == before
    assert sum(len(w.sterling.delivered(p["partnerName"])) for p in w.sterling.partners()) == delivered


def test_a_resend_of_a_document_not_posted_is_refused_and_changes_nothing(world):
    run_with_missing_account(world)
    failed = world.ledger.documents(IN, status=FAILED)[0]
    before = snapshot(world, IN)
    with pytest.raises(ValueError, match=rf"document {failed.id} \(.*\) is failed, not posted"):
        replay(integration=IN, tenant="demo", ids=[failed.id], resend=True, who="dana", why="try")
    assert snapshot(world, IN) == before


def test_the_deployment_parameters_resend_who_why_and_a_missing_who_refused(world):
    params = parameter_schema(replay).properties
    for name in ("resend", "who", "why"):
        assert params[name].get("description"), name  # shown on the Run form
    [deployment] = [d for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
                    if d["name"] == "replay"]
    assert {"resend", "who", "why"} <= set(deployment["parameters"]) <= set(params)
    assert deployment["parameters"]["resend"] is False  # sent again only when asked
    invoice = posted_invoice(world)
    before = snapshot(world, OUT)
    state = replay(integration=OUT, tenant="demo", ids=[invoice.id], resend=True, why="lost", return_state=True)
    assert state.is_failed() and "names who asks" in state.message and "\n" not in state.message
    by_run = replay(integration=OUT, tenant="demo", ids=[invoice.id], resend=True, who="ops", why="lost",
                    flow_run_id="some-run", return_state=True)
    assert by_run.is_failed() and "not by a flow run" in by_run.message
    assert snapshot(world, OUT) == before
    dry = replay(integration=OUT, tenant="demo", ids=[invoice.id], resend=True, who="ops", why="lost", dry_run=True)
    assert dry["would_resend"] == 1 and dry["documents"] == [f"document {invoice.id} (invoice {invoice.partner} "
                                                             f"{invoice.natural_key})"]
    assert snapshot(world, OUT) == before


def error_line(capsys, code: int) -> str:
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, out, err)
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err.strip()


def test_the_cli_resends_as_the_os_user_and_says_no_in_one_line(world, capsys):
    invoice = posted_invoice(world)
    base = ["replay", "--tenant", "demo", "--integration", OUT]
    before = snapshot(world, OUT)
    assert "says why" in error_line(capsys, main([*base, "--id", str(invoice.id), "--resend"]))
    assert "by --id" in error_line(capsys, main([*base, "--status", "failed", "--resend", "--why", "x"]))
    assert "go with --resend" in error_line(capsys, main([*base, "--id", str(invoice.id), "--why", "x"]))
    assert "not in the ledger" in error_line(capsys, main([*base, "--id", "9999", "--resend", "--why", "x"]))
    assert snapshot(world, OUT) == before
    assert main([*base, "--id", str(invoice.id), "--resend", "--why", "retailer lost it", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["would_resend"] == 1 and snapshot(world, OUT) == before
    assert main([*base, "--id", str(invoice.id), "--resend", "--why", "retailer lost it"]) == 0
    assert json.loads(capsys.readouterr().out)["resent"] == 1
    assert resend_events(world.ledger, invoice.id) == [f"{getpass.getuser()}: retailer lost it"]
    assert len(delivered_for(world, invoice.natural_key)) == 2
