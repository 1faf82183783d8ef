"""A run whose process is SIGKILLed stays "Running" on the server unless something notices its
heartbeats stopped. With the zombie automation of the README ("Operate it": after a
``prefect.flow-run.heartbeat``, expect another flow-run event within a window, else change the
run's state to Crashed), the killed run is marked Crashed, and the next run recovers its
intents at once instead of waiting out the intent lease (600 s by default)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from ml_connector.flows.intacct_to_sps import intacct_to_sps
from ml_connector.pipelines.intacct_sps import EPOCH
from ml_connector.runtime.tenant import tenant
from ml_connector.tasks.outbound import INTEGRATION, invoice_row
from tests.waiting import wait_for as shared_wait_for

# The child claims every received outbound document under its own flow run, then hangs.
CHILD = """
import sys, time
from prefect import flow, tags
from ml_connector.engine import current_run_id
from ml_connector.runtime.tenant import tenant

@flow(name="zombie-probe")
def probe():
    ledger = tenant("demo").ledger
    claimed = ledger.claim({integration!r}, ledger.pending_ids({integration!r}), current_run_id())
    print(current_run_id(), len(claimed), flush=True)
    time.sleep(600)

with tags({tag!r}):
    probe()
"""


def zombie_automation(tag: str, within: timedelta):
    """The README's zombie automation, scoped to one tag so it touches no other test's runs."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture

    return Automation(
        name=f"crash zombie flow runs ({tag})",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"}, expect={"prefect.flow-run.*"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{tag}"},
            for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1, within=within),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message="no heartbeat: the run's process is gone")],
    ).create()


def wait_for(condition, what: str, timeout: float = 120.0):
    return shared_wait_for(condition, what, timeout, interval=1.0)


def heartbeats(api: str, run_id: str) -> int:
    body = {"filter": {"event": {"name": ["prefect.flow-run.heartbeat"]},
                       "resource": {"id": [f"prefect.flow-run.{run_id}"]},
                       "occurred": {"since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}},
            "limit": 5}
    return len(httpx.post(f"{api}/events/filter", json=body, timeout=10).json().get("events", []))


def flow_run_state(run_id: str) -> str | None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(uuid.UUID(run_id)).state.type.value


def test_a_killed_run_is_marked_crashed_and_its_intents_recovered_without_the_lease(world, prefect_server, monkeypatch):
    monkeypatch.setenv("ML_CONNECTOR_INTENT_LEASE", "600")  # the production default: no lease rescue here
    # The sandbox's history trails nothing: the killed run's uploads absent from it never
    # arrived and are sent at once (tests/flows/test_sps_delivery_honest.py has SPS's real lag).
    monkeypatch.setenv("ML_CONNECTOR_SPS_HISTORY_LAG", "0")
    world.add_ar_invoices(4)
    invoices = tenant("demo").intacct().read_ar_invoices(EPOCH).invoices
    world.ledger.ingest(INTEGRATION, [invoice_row(inv, world.mapping) for inv in invoices], "seed")
    expected = len(world.ledger.pending_ids(INTEGRATION))
    assert expected >= 3

    tag = f"zombie-{uuid.uuid4().hex[:8]}"
    automation = zombie_automation(tag, within=timedelta(seconds=10))
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(integration=INTEGRATION, tag=tag)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        run_id, claimed = child.stdout.readline().split()
        assert int(claimed) == expected
        wait_for(lambda: heartbeats(prefect_server, run_id), "the run's first heartbeat on the server")
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert world.ledger.status_counts(INTEGRATION) == {"posting": expected}
        wait_for(lambda: flow_run_state(run_id) == "CRASHED", "the zombie automation to crash the run")
    finally:
        if child.poll() is None:
            child.kill()
        automation.delete()

    state = intacct_to_sps(tenant="demo", return_state=True)
    assert state.is_completed()
    assert state.result()["recovered_requeued"] == expected
    sent = [p for p in world.sps.inbox() if p.startswith("in/IN_")]
    assert len(sent) == len(world.seeded.expected_invoices)
