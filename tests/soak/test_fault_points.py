"""Faults placed at the exact points where the chaos soak once lost documents, made deterministic.

The 10,000-document soak lost one page of AR invoices (39 outbound documents): Intacct's
readMore moves the server-side result set forward on every call it answers, and a page whose
line-item ``read`` failed past the HTTP layer's attempts was retried by Prefect, which sent the
same readMore again and got the next page. These tests replay that sequence on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from ml_connector.connectors.intacct.listing import LISTING_RESTARTS
from ml_connector.connectors.intacct.models import ArInvoice
from ml_connector.credentials import save_block
from ml_connector.demo.parts.sps_qbo import TENANT, seed_qbo_company, seed_qbo_invoices
from ml_connector.engine import Page, Run
from ml_connector.engine.pages import record_page
from ml_connector.flows.intacct_to_sps import intacct_to_sps
from ml_connector.flows.qbo_to_sps import qbo_to_sps
from ml_connector.ledger.schema import FAILED, QUARANTINED
from ml_connector.mappings.tenant import load_tenant, tenant_path
from ml_connector.pipelines.intacct_sps import CURSOR
from ml_connector.pipelines.qbo_sps import PIPELINE as QBO_SPS
from ml_connector.runtime.tenant import reset, tenant
from ml_connector.sandbox.qbo import QboEmulator
from ml_connector.sandbox.sps import SpsEmulator
from ml_connector.tasks.qbo import OUTBOUND as QBO_OUT
from ml_connector.tasks.qbo import read_changed_invoices
from ml_connector.tasks.qbo_webhook import WEBHOOK
from ml_connector.webhooks.app import create_app
from tests.soak.outages import LineReadOutage

OUT = "intacct-sps"


def sent_invoices(world) -> list[str]:
    return [p for p in world.sps.inbox() if p.startswith("in/IN_")]


def assert_only_unmapped_quarantined(world, state) -> None:
    """The run finished and is Failed only because the seeded invoices of the customer without
    a trading partner are quarantined (a person must map it), and its message says so."""
    quarantined = world.ledger.documents(OUT, status=QUARANTINED)
    assert {r.natural_key for r in quarantined} == world.seeded.unmapped_invoices
    assert state.is_failed() and state.message.startswith(f"{len(quarantined)} of "), state
    assert "documents quarantined: " in state.message and "is not mapped to a trading partner" in state.message
    counts = state.result(raise_on_failure=False)
    assert counts[QUARANTINED] == len(quarantined) and counts[FAILED] == 0, counts


def test_a_resent_readmore_loses_no_invoice(world, monkeypatch):
    world.add_ar_invoices(100)
    outage = LineReadOutage(world.intacct, after={2})
    monkeypatch.setattr(world.intacct, "dispatch", outage)
    state = intacct_to_sps(tenant="demo", page_size=10, return_state=True)
    assert_only_unmapped_quarantined(world, state)
    assert outage.refused == outage.times  # the task failed once, after readMore had moved on
    assert len(world.ledger.documents(OUT)) == 100
    assert len(sent_invoices(world)) == len(world.seeded.expected_invoices)
    newest = max(ArInvoice.model_validate_json(r.raw_payload).when_modified for r in world.ledger.documents(OUT))
    assert world.ledger.get_cursor(OUT, CURSOR) == newest.isoformat()  # moved after the whole listing


def test_a_listing_that_keeps_skipping_fails_the_run_without_moving_the_cursor(world, monkeypatch):
    world.add_ar_invoices(60)
    # every odd readMore loses its page: each listing has a gap, however often it restarts
    outage = LineReadOutage(world.intacct, after=range(1, 1000, 2))
    monkeypatch.setattr(world.intacct, "dispatch", outage)
    state = intacct_to_sps(tenant="demo", page_size=10, return_state=True)
    # Failed because the listing could not be read without a gap (it raised), not for a document
    assert state.is_failed() and "without a gap" in state.message, state
    assert "quarantined" not in state.message and "documents failed" not in state.message
    assert isinstance(state.result(raise_on_failure=False), Exception)
    assert "without a gap" in str(state.result(raise_on_failure=False))
    assert world.ledger.get_cursor(OUT, CURSOR) is None
    assert outage.read_mores == 2 * (LISTING_RESTARTS + 1)  # each listing read to its first gap only
    monkeypatch.setattr(world.intacct, "dispatch", outage.dispatch)  # the outage ends
    again = intacct_to_sps(tenant="demo", page_size=10, return_state=True)
    assert_only_unmapped_quarantined(world, again)  # the whole listing read: only the unmapped customer is left
    assert len(sent_invoices(world)) == len(world.seeded.expected_invoices)
    assert len(world.ledger.documents(OUT)) == 60


# --- qbo-sps: what a run killed mid-work leaves behind ---------------------------------------


@dataclass
class QboSpsWorld:
    qbo: object
    sps: object
    ledger: object


@pytest.fixture()
def qbo_sps(mount, tmp_path, monkeypatch, prefect_server) -> QboSpsWorld:
    """The demo-qbo company with 6 invoices (3 for an unmapped customer) and an empty SPS."""
    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(tmp_path))
    reset()
    qbo, sps = QboEmulator(), SpsEmulator()
    mount(qbo.base_url, qbo.transport())
    mount(sps.base_url, sps.transport())
    mapping = load_tenant(tenant_path(TENANT))
    seed_qbo_invoices(qbo, mapping, 6, 3, seed_qbo_company(qbo, mapping))
    save_block(TENANT, "sps", sps.credentials())
    save_block(TENANT, "qbo", qbo.credentials())
    return QboSpsWorld(qbo, sps, tenant(TENANT).ledger)


def test_qbo_invoices_a_killed_run_left_between_intent_and_outcome_are_sent(qbo_sps, monkeypatch):
    """Found by the chaos soak: a run SIGKILLed inside its post task left its rows in posting
    (some had reached SPS, some not) and no later run ever settled them."""
    # The sandbox's history trails nothing: what is absent from it never arrived, and is sent
    # at once (with SPS's real lag it waits for a later run: tests/flows/test_sps_delivery_honest.py).
    monkeypatch.setenv("ML_CONNECTOR_SPS_HISTORY_LAG", "0")
    ledger = qbo_sps.ledger
    # What such a run leaves: every invoice read, recorded and claimed (intent written), none
    # with an outcome; "dead-run" is no live Prefect run.
    invoices = read_changed_invoices.fn(TENANT, datetime.now(UTC) - timedelta(days=1))
    record_page.fn(QBO_SPS, Run(TENANT, QBO_OUT, "dead-run"), Page(invoices))
    claimed = ledger.claim(QBO_OUT, ledger.pending_ids(QBO_OUT), "dead-run")
    assert claimed
    state = qbo_to_sps(tenant=TENANT, return_state=True)
    assert state.is_completed()
    assert state.result()["recovered_requeued"] == len(claimed)
    assert ledger.status_counts(QBO_OUT).get("posting", 0) == 0
    assert sorted(qbo_sps.sps.inbox()) == sorted(c.target_ref for c in claimed)


def _crashed(flow_run_id) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Crashed(message="SIGKILL"), force=True)


def test_webhook_notifications_of_a_finished_run_are_taken_back_at_once(qbo_sps, monkeypatch):
    """A run killed between taking the notifications and finishing them leaves them claimed.
    Claims of a live run are left alone (inside the lease); once that run is over (crashed:
    finished_runs), the next run takes them back at once instead of after the lease."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Running
    from starlette.testclient import TestClient

    @flow(name="qbo-to-sps-killed")
    def killed() -> None:  # stands for the run that will be SIGKILLed: only its flow run is needed
        pass

    monkeypatch.setenv("ML_CONNECTOR_INTENT_LEASE", "600")  # the production lease: only the run state frees them
    ledger = qbo_sps.ledger
    invoices = [c for c in qbo_sps.qbo.changes() if c.entity == "Invoice"]
    body, headers = qbo_sps.qbo.signed_notification(invoices)
    with TestClient(create_app(TENANT, trigger=None)) as client:
        assert client.post("/webhooks/qbo", content=body, headers=headers).json()["stored"] == len(invoices)
    with get_client(sync_client=True) as client:
        live = client.create_flow_run(killed, state=Running())
    taken = ledger.claim(WEBHOOK, ledger.pending_ids(WEBHOOK), str(live.id))
    assert len(taken) == len(invoices)

    state = qbo_to_sps(tenant=TENANT, return_state=True)  # the claimer still runs: hands off
    assert state.is_completed() and state.result()["webhook_notifications"] == 0
    assert ledger.status_counts(WEBHOOK) == {"posting": len(invoices)}

    _crashed(live.id)  # SIGKILLed, then marked crashed (the zombie automation, README)
    state = qbo_to_sps(tenant=TENANT, return_state=True)
    assert state.is_completed() and state.result()["webhook_notifications"] == len(invoices)
    assert ledger.status_counts(WEBHOOK) == {"posted": len(invoices)}
