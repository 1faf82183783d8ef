"""Webhook-to-posted latency, through the paths the product deploys.

The default path (``ML_CONNECTOR_WEBHOOK_DISPATCH=task-worker``, :data:`TASK_WORKER`), as a user
runs it: ``ml-connector webhooks serve`` (own process) verifies and stores the notification,
answers, and hands it with ``.delay()`` to its delivery task (``qbo-webhook-delivery``, or
``adobe-webhook-delivery`` per consumer), which the service's own child process, the delivery
worker, runs at once. The service is started once and warmed with one notification that is not
counted (a long-running service's steady state); the phases come from each delivery task run's
creation and state history (``TASK_PHASES``). Measured for

* QBO -> SPS: a signed QBO notification until the RSX invoice is stored in the SPS emulator
  (:func:`measure_webhook_latency`);
* Adobe Commerce -> Intacct payables: a signed Commerce order webhook until its AP bill is
  stored in the Intacct emulator (:func:`measure_adobe_webhook_latency`).

The trigger path (``ML_CONNECTOR_WEBHOOK_DISPATCH=trigger``, :data:`TRIGGER`), kept for QBO
because it explains where seconds go:

    signed QBO notification -> webhook service (own process): verified, stored in the ledger,
    Prefect event ``ml-connector.qbo.notification`` emitted -> the ``qbo-to-sps`` deployment's
    trigger (prefect.yaml) creates a flow run -> the runner serving the deployment (own
    process) picks it up at its next poll and starts a new process for it -> the flow reads the
    stored notifications and uploads the RSX invoice to SPS.

Each notification is timed from its POST to the moment the emulator stored the document (the
emulator host records it; one machine, one clock), one notification at a time. On the trigger
path, the event's ``occurred``/``received`` stamps and each run's state history give the
phases (``PHASES``), as medians over the notifications.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from . import QBO_TENANT, RUN_PY
from .emulator_host import COMMERCE_TENANT, EmulatorHost
from .world import fresh_world

# (phase, from, to): the stamps each notification's record holds, in the order they happen
PHASES = (
    ("post_to_event_emitted", "post", "event_occurred"),        # verify, store, emit (the webhook's answer)
    ("event_emitted_to_received", "event_occurred", "event_received"),  # the emitter's queue, websocket
    ("event_received_to_run_created", "event_received", "run_created"),  # trigger evaluation, its action
    ("run_created_to_pending", "run_created", "PENDING"),      # waiting for the runner's next poll
    ("pending_to_running", "PENDING", "RUNNING"),              # a new process: interpreter, imports, flow
    ("running_to_posted", "RUNNING", "posted"),                # the flow's work up to the upload
)
TASK_PHASES = (
    ("post_to_task_run_created", "post", "run_created"),      # verify, store, answer, .delay() (API call)
    ("task_run_created_to_running", "run_created", "RUNNING"),  # websocket to the worker, parameters read
    ("running_to_posted", "RUNNING", "posted"),               # the delivery's work up to the upload
)
EVENT_TIMEOUT_S = 180
TRIGGER, TASK_WORKER = "trigger", "task-worker"


def serve_qbo_to_sps_main() -> int:
    """Child mode: serve the ``qbo-to-sps`` deployment as prefect.yaml declares it (its event
    trigger and concurrency limit; not its hourly schedule) with the Runner, which polls the
    Prefect server every ``PREFECT_RUNNER_POLL_FREQUENCY`` seconds and executes each run in a
    new process, as a process worker does."""
    import yaml
    from prefect.events import DeploymentEventTrigger

    from ml_connector.flows.qbo_to_sps import qbo_to_sps

    spec = next(d for d in yaml.safe_load((RUN_PY.parents[1] / "prefect.yaml").read_text())["deployments"]
                if d["name"] == "qbo-to-sps")
    triggers = [DeploymentEventTrigger(**{k: v for k, v in t.items() if k != "type"})
                for t in spec.get("triggers") or [] if t.get("type", "event") == "event"]
    # not paused on shutdown: the measurement deletes the deployment itself when it is done
    qbo_to_sps.serve(name="qbo-to-sps", parameters={"tenant": QBO_TENANT}, triggers=triggers,
                     global_limit=spec.get("concurrency_limit"), pause_on_shutdown=False)
    return 0


def measure_webhook_latency(host: EmulatorHost, work: Path, events: int, poll_seconds: float = 10, *,
                            runner_argv: list[str] | None = None, service_argv: list[str] | None = None,
                            dispatch: str = TRIGGER) -> dict:
    """Deliver ``events`` signed QBO notifications one at a time and time each to its RSX invoice
    in SPS. ``dispatch``: the product's ``trigger`` path (the deployment's runner polls every
    ``poll_seconds``) or its default ``task-worker`` path (the service and its own delivery
    worker). ``runner_argv`` and ``service_argv`` replace the runner and the webhook service
    (the prototypes); the phases are then not read."""
    from ml_connector.tasks.qbo_webhook import DELIVERY
    from ml_connector.webhooks.app import DEPLOYMENT

    fresh_world(host, work, target="qbo")
    env = _child_env(work, poll_seconds, dispatch)
    worker_path = dispatch == TASK_WORKER
    log = open(work / f"webhook-{uuid.uuid4().hex[:6]}.log", "w")
    trigger_path = runner_argv is None and not worker_path
    stamps = trigger_path or (worker_path and service_argv is None)
    runner = None
    if runner_argv is not None or trigger_path:
        runner = subprocess.Popen(runner_argv or [sys.executable, str(RUN_PY), "--serve-qbo-to-sps"],
                                  env=env, stdout=log, stderr=log)
    service = None
    try:
        if trigger_path:
            _wait_for_deployment(DEPLOYMENT, runner, log.name)
        service, port = _start_service(service_argv, env, log)
        if worker_path:  # a long-running service's steady state: its first delivery is not counted
            _deliver(host, port, 1, log.name, first=events)
        since = datetime.now(UTC)
        records = _deliver(host, port, events, log.name)
        if trigger_path:
            _add_prefect_stamps(records, DEPLOYMENT, since)
        elif stamps:
            _add_task_run_stamps(records, since, DELIVERY)
    finally:
        _stop(service, runner)
        log.close()
        if trigger_path:
            _delete_deployment(DEPLOYMENT)
    return _result(records, poll_seconds, trigger_path, dispatch, worker_path and stamps)


def measure_adobe_webhook_latency(host: EmulatorHost, work: Path, events: int) -> dict:
    """Deliver ``events`` signed Adobe Commerce order webhooks one at a time to the webhook
    service on its default path (its own delivery worker) and time each until its AP bill is
    stored in the Intacct emulator (``commerce-intacct-ap``)."""
    from ml_connector.tasks.adobe_webhook import DELIVERY

    _adobe_world(host, work)
    env = _child_env(work, 10, TASK_WORKER)
    log = open(work / f"webhook-adobe-{uuid.uuid4().hex[:6]}.log", "w")
    argv = [sys.executable, "-m", "ml_connector.cli", "webhooks", "serve", "--tenant", COMMERCE_TENANT]
    service = None
    try:
        service, port = _start_service(argv, env, log)
        _deliver(host, port, 1, log.name, first=events, source="adobe")  # the warm-up, not counted
        since = datetime.now(UTC)
        records = _deliver(host, port, events, log.name, source="adobe")
        _add_task_run_stamps(records, since, DELIVERY)
    finally:
        _stop(service)
        log.close()
    out = _result(records, 0, False, TASK_WORKER, True)
    out["integration"] = "commerce-intacct-ap"
    return out


def _result(records: list[dict], poll_seconds: float, trigger_path: bool, dispatch: str, task_stamps: bool) -> dict:
    out = _summarize(records, poll_seconds, trigger_path)
    out["dispatch"] = dispatch
    if task_stamps:
        out["task_runs"] = sum(1 for r in records if "run_created" in r)
        out["phases_s_p50"] = {name: _median(r[b] - r[a] for r in records if a in r and b in r)
                               for name, a, b in TASK_PHASES}
    return out


def _adobe_world(host: EmulatorHost, work: Path) -> dict:
    """Fresh Commerce and Intacct emulators, a new ledger, the demo-commerce blocks pointing at
    them, no cached clients (as ``world.fresh_world`` does for the other targets)."""
    from ml_connector.demo.sandboxes import fresh_ledger, save_credentials

    world = host.call("world", target="adobe")
    fresh_ledger(f"sqlite:///{work / f'ledger-{uuid.uuid4().hex[:8]}.db'}")
    save_credentials(COMMERCE_TENANT, {"adobe": world["adobe"], "intacct": world["intacct"]})
    return world


def _child_env(work: Path, poll_seconds: float, dispatch: str) -> dict:
    """The children's environment: this process's Prefect API; the trigger path named, the
    task-worker path left to the default (as a user runs the service)."""
    from prefect.settings import get_current_settings

    env = dict(os.environ, PREFECT_API_URL=str(get_current_settings().api.url),
               PREFECT_RUNNER_POLL_FREQUENCY=str(poll_seconds))
    env.pop("ML_CONNECTOR_WEBHOOK_DISPATCH", None)
    if dispatch == TRIGGER:
        env["ML_CONNECTOR_WEBHOOK_DISPATCH"] = TRIGGER
    env.setdefault("PREFECT_HOME", str(work / "prefect-child"))
    return env


def _start_service(argv: list[str] | None, env: dict, log) -> tuple[subprocess.Popen, int]:
    """The webhook service in its own process, as deployed; returns once it answers /health."""
    import httpx

    from ml_connector.sandbox.serve import free_port

    port = free_port()
    argv = argv or [sys.executable, "-m", "ml_connector.cli", "webhooks", "serve", "--tenant", QBO_TENANT]
    service = subprocess.Popen(argv + ["--port", str(port)], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return service, port
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or service.poll() is not None:
            service.kill()
            raise RuntimeError(f"the webhook service did not start (see {log.name})")
        time.sleep(0.2)


# source -> (the host's command making a signed event, the route, the host's command counting posted documents)
SOURCES = {"qbo": ("qbo_event", "/webhooks/qbo", "inbox"), "adobe": ("adobe_event", "/webhooks/adobe", "intacct_posted")}


def _deliver(host: EmulatorHost, port: int, events: int, log_name: str, first: int = 0,
             source: str = "qbo") -> list[dict]:
    """POST each notification and wait for its document in the target; wall-clock stamps (epoch seconds)."""
    import httpx

    make, route, posted = SOURCES[source]
    records = []
    with httpx.Client(timeout=30) as http:
        for n in range(first, first + events):
            event = host.call(make, n=n)
            before = host.call(posted)["count"]
            wall, started = time.time(), time.perf_counter()
            answer = http.post(f"http://127.0.0.1:{port}{route}", content=event["body"].encode(),
                               headers=event["headers"])
            ack = time.perf_counter() - started
            answer.raise_for_status()
            deadline = time.monotonic() + EVENT_TIMEOUT_S
            while (now := host.call(posted))["count"] <= before:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{source} notification {n} was not posted within {EVENT_TIMEOUT_S} s "
                                       f"(see {log_name})")
                time.sleep(0.05)
            records.append({"post": wall, "ack": ack, "posted": now["last_upload"]})
    return records


def _stop(*procs: subprocess.Popen | None) -> None:
    for proc in procs:
        if proc is None:
            continue
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_for_deployment(name: str, runner: subprocess.Popen, log_name: str, timeout: float = 120) -> None:
    """Until the runner has registered the deployment and its trigger's automation (the
    measurement deleted any earlier one, so this is the runner's own)."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            try:
                deployment = client.read_deployment_by_name(name)
                if client.read_resource_related_automations(f"prefect.deployment.{deployment.id}"):
                    return
            except Exception:  # not there yet (ObjectNotFound), or the server is busy
                pass
            if time.monotonic() > deadline or runner.poll() is not None:
                raise RuntimeError(f"the {name} deployment and its trigger were not served (see {log_name})")
            time.sleep(0.5)


def _delete_deployment(name: str) -> None:
    """The deployment and its trigger's automation go, so the next measurement's runner
    registers afresh and ``_wait_for_deployment`` waits for that one."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(name)
            client.delete_resource_owned_automations(f"prefect.deployment.{deployment.id}")
            client.delete_deployment(deployment.id)
    except Exception:  # never registered: nothing to delete
        pass


def _add_prefect_stamps(records: list[dict], deployment_name: str, since: datetime, timeout: float = 60) -> None:
    """Each notification's event stamps and its flow run's state stamps, from the server.
    Notifications go one at a time, so the k-th event and the k-th run after ``since`` are
    the k-th notification's."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter

    from ml_connector.inbox import QBO_EVENT as EVENT

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(deployment_name)
        flt = DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
        deadline = time.monotonic() + timeout
        while True:  # the last run is still finishing, and events are persisted in batches
            runs = [r for r in client.read_flow_runs(deployment_filter=flt, sort=FlowRunSort.START_TIME_ASC)
                    if r.created and r.created >= since]
            page = client.read_events(EventFilter(
                occurred=EventOccurredFilter(since=since), event=EventNameFilter(name=[EVENT]),
                resource=EventResourceFilter(id=[f"ml-connector.tenant.{QBO_TENANT}"])), limit=50)
            emitted = list(page.events)
            while page.next_page and len(emitted) < len(records):
                page = client.read_events_page(page.next_page)
                emitted += page.events
            done = all(r.state is not None and r.state.is_final() for r in runs)
            if (done and len(runs) >= len(records) and len(emitted) >= len(records)) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        runs.sort(key=lambda r: r.created)
        emitted.sort(key=lambda e: e.occurred)
        # past the deadline fewer events and runs than records may be in: those records stay unstamped
        for record, ev in zip(records, emitted, strict=False):
            record.update(event_occurred=ev.occurred.timestamp(), event_received=ev.received.timestamp())
        for record, run in zip(records, runs, strict=False):
            record["run_created"] = run.created.timestamp()
            for st in sorted(client.read_flow_run_states(run.id), key=lambda x: x.timestamp):
                record.setdefault(st.type.value, st.timestamp.timestamp())


def _add_task_run_stamps(records: list[dict], since: datetime, task_name: str, timeout: float = 60) -> None:
    """Each notification's delivery task run (``task_name``): its creation and state stamps.
    One notification at a time, so the k-th run after ``since`` is the k-th notification's."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        deadline = time.monotonic() + timeout
        while True:  # task run states reach the server through events, in batches
            flt = TaskRunFilter(name=TaskRunFilterName(like_=task_name))  # runs are named <task>-<suffix>
            runs = [r for r in client.read_task_runs(task_run_filter=flt, sort=TaskRunSort.EXPECTED_START_TIME_DESC,
                                                     limit=200)
                    if r.created and r.created >= since and r.name.startswith(task_name)]
            done = all(r.state is not None and r.state.is_final() for r in runs)
            if (done and len(runs) >= len(records)) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        runs.sort(key=lambda r: r.created)
        # past the deadline fewer runs than records may be in: those records stay unstamped
        for record, run in zip(records, runs, strict=False):
            record["run_created"] = run.created.timestamp()
            for st in sorted(client.read_task_run_states(run.id), key=lambda x: x.timestamp):
                record.setdefault(st.type.value, st.timestamp.timestamp())


def _summarize(records: list[dict], poll_seconds: float, trigger_path: bool) -> dict:
    latencies = [r["posted"] - r["post"] for r in records]
    ordered = sorted(latencies)
    out = {
        "events": len(records),
        "runner_poll_seconds": poll_seconds,
        "p50_seconds": round(statistics.median(ordered), 2),
        "p95_seconds": round(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))], 2),
        "latencies_seconds": [round(x, 2) for x in latencies],
        "webhook_ack_ms_p50": round(1000 * statistics.median(r["ack"] for r in records), 1),
        "flow_runs": sum(1 for r in records if "run_created" in r) if trigger_path else 0,
    }
    if trigger_path:
        out["phases_s_p50"] = {name: _median(r[b] - r[a] for r in records if a in r and b in r)
                               for name, a, b in PHASES}
    return out


def _median(values) -> float | None:
    values = list(values)
    return round(statistics.median(values), 3) if values else None
