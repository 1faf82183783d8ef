"""``ml-connector setup`` creates the zombie automation next to the alert automations, once,
however often it runs; the automation's scope matches the heartbeats Prefect really sends for
a deployment run of one of our flows, and only those; and a run whose heartbeats stop is
marked Crashed by it (tests/soak/test_zombie_runs.py shows the next run then recovers)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import yaml
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import Posture
from prefect.server.events.schemas.automations import EventTrigger as ServerEventTrigger
from prefect.server.events.schemas.events import ReceivedEvent

from ml_connector.cli import main
from ml_connector.integrations import INTEGRATIONS
from ml_connector.mappings.tenant import load_tenant, tenant_path
from ml_connector.ops.setup import ZOMBIE_AUTOMATION, ZOMBIE_WINDOW, automations, zombie_automation
from ml_connector.sandbox.intacct import IntacctEmulator
from tests.waiting import wait_for as shared_wait_for

# A stand-in for a worker running a deployment's flow run: the real flow engine (heartbeats
# included) runs a flow of the same name as one of ours that hangs, until SIGKILLed.
CHILD = """
import time, uuid
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow

@flow(name={flow_name!r})
def stand_in():
    print("running", flush=True)
    time.sleep(600)

with get_client(sync_client=True) as client:
    run = client.read_flow_run(uuid.UUID({run_id!r}))
run_flow(stand_in, flow_run=run)
"""


def read_by_name(name: str) -> list:
    with get_client(sync_client=True) as client:
        return client.read_automations_by_name(name)


def delete_named(names) -> None:
    with get_client(sync_client=True) as client:
        for name in names:
            for automation in client.read_automations_by_name(name):
                client.delete_automation(automation.id)


def wait_for(condition, what: str, timeout: float = 90.0):
    return shared_wait_for(condition, what, timeout, interval=0.5)


def heartbeat_of(api: str, run_id: uuid.UUID) -> ReceivedEvent | None:
    """The first heartbeat event the server stored for the run, as the trigger sees it."""
    body = {"filter": {"event": {"name": ["prefect.flow-run.heartbeat"]},
                       "resource": {"id": [f"prefect.flow-run.{run_id}"]},
                       "occurred": {"since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}},
            "limit": 1}
    events = httpx.post(f"{api}/events/filter", json=body, timeout=10).json().get("events", [])
    return ReceivedEvent.model_validate(events[0]) if events else None


def server_trigger(automation) -> ServerEventTrigger:
    return ServerEventTrigger.model_validate(json.loads(automation.trigger.model_dump_json()))


def test_setup_twice_leaves_one_zombie_automation_with_the_readme_trigger_and_action(prefect_server, tmp_path,
                                                                                   monkeypatch):
    creds = tmp_path / "creds.yaml"
    creds.write_text(yaml.safe_dump({"intacct": IntacctEmulator().credentials()}))
    shutil.copy(tenant_path("demo"), tmp_path / "acme-zombie.yaml")
    monkeypatch.setenv("ML_CONNECTOR_TENANTS", str(tmp_path))
    names = [a.name for a in automations("acme-zombie", load_tenant(tmp_path / "acme-zombie.yaml"))]
    try:
        assert main(["setup", "--tenant", "acme-zombie", "--file", str(creds), "--no-verify"]) == 0
        assert main(["setup", "--tenant", "acme-zombie", "--file", str(creds), "--no-verify"]) == 0
        for name in names:  # every automation of setup: replaced on the second run, not added
            assert len(read_by_name(name)) == 1, name
        [zombie] = read_by_name(ZOMBIE_AUTOMATION)
    finally:
        delete_named(names)

    trigger = zombie.trigger
    assert trigger.posture == Posture.Proactive and trigger.threshold == 1
    assert trigger.after == {"prefect.flow-run.heartbeat"} and trigger.expect == {"prefect.flow-run.*"}
    assert trigger.for_each == {"prefect.resource.id"} and trigger.within == ZOMBIE_WINDOW == timedelta(seconds=90)
    assert trigger.match.model_dump() == {"prefect.resource.id": "prefect.flow-run.*"}
    flows, deployment = [spec.model_dump() for spec in trigger.match_related]
    assert flows["prefect.resource.role"] == "flow"
    assert {spec.deployment.split("/")[0] for spec in INTEGRATIONS.values()} <= set(flows["prefect.resource.name"])
    assert {"replay", "reconcile", "qbo-master-data", "backfill-intacct-to-sps"} <= set(flows["prefect.resource.name"])
    assert deployment == {"prefect.resource.role": "deployment"}
    [action] = zombie.actions
    assert isinstance(action, ChangeFlowRunState) and action.state == StateType.CRASHED
    assert zombie.enabled


def test_a_deployment_run_whose_heartbeats_stop_is_crashed_and_an_ad_hoc_run_is_out_of_scope(prefect_server):
    flow_name = INTEGRATIONS["sps-intacct"].deployment.split("/")[0]
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(flow_name)
        deployment_id = client.create_deployment(flow_id=flow_id, name=f"zombie-{uuid.uuid4().hex[:8]}")
        run_id = client.create_flow_run_from_deployment(deployment_id).id

    # The production trigger, with the shortest window Prefect allows, under a name of its own.
    automation = zombie_automation(within=timedelta(seconds=10),
                                   name=f"{ZOMBIE_AUTOMATION} (test {run_id})").create()
    env = {**os.environ, "PREFECT_API_URL": prefect_server}
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(flow_name=flow_name, run_id=str(run_id))], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout.readline().strip() == "running"
        heartbeat = wait_for(lambda: heartbeat_of(prefect_server, run_id), "the run's heartbeat on the server")
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert server_trigger(automation).covers(heartbeat)

        def run_state():
            with get_client(sync_client=True) as client:
                return client.read_flow_run(run_id).state
        crashed = wait_for(lambda: (s := run_state()).is_crashed() and s, "the zombie automation to crash the run")
        assert "heartbeat" in (crashed.message or "")
    finally:
        if child.poll() is None:
            child.kill()
        automation.delete()
        with get_client(sync_client=True) as client:
            client.delete_deployment(deployment_id)

    # The same flow run ad hoc (CLI, demo, tests): Prefect's default heartbeat is every 180 s,
    # so the 90 s trigger must not cover it, or it would crash healthy runs.
    @flow(name=flow_name)
    def ad_hoc():
        return 1

    state = ad_hoc(return_state=True)
    ad_hoc_beat = wait_for(lambda: heartbeat_of(prefect_server, state.state_details.flow_run_id),
                           "the ad-hoc run's heartbeat on the server")
    assert not server_trigger(automation).covers(ad_hoc_beat)
    assert server_trigger(zombie_automation()).covers(heartbeat)
