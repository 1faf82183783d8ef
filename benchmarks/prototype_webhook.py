"""Prototype: webhook-to-posted latency with a Prefect task worker instead of a served deployment.

The product's webhook service (``ml_connector/webhooks/app.py``) stores each verified QBO
notification and emits the Prefect event ``ml-connector.qbo.notification``; the trigger declared
on the ``qbo-to-sps`` deployment (prefect.yaml) creates a run, which then waits for a worker or
runner to poll (``PREFECT_RUNNER_POLL_FREQUENCY`` / ``PREFECT_WORKER_QUERY_SECONDS``, 10 s by
default) and for a fresh Python process to start, before the flow itself (under a second)
runs. This prototype keeps the same webhook service (its ``trigger`` hook) and the same flow,
but hands the run to a long-lived Prefect *task worker* (``prefect.task_worker.serve``) with
``task.delay()``: the worker is told of the new task run over its websocket at once and runs it
in its own, already warm process.

The product now has this path (``ML_CONNECTOR_WEBHOOK_DISPATCH=task-worker`` with ``ml-connector
webhooks worker``, whose ``qbo-webhook-delivery`` task does only what one notification needs
rather than the whole flow); it is measured here too, as in ``benchmarks/run.py``.

As a lower bound, another variant runs the flow in a thread of the webhook service itself (no
hand-over at all). All are measured the same way (``bench.webhook.measure_webhook_latency``):
emulators in their own process, the webhook service and the worker each in their own process,
notifications one at a time.

    python benchmarks/prototype_webhook.py --events 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from prefect import task

HERE = Path(__file__).resolve()
QBO_TENANT = "demo-qbo"


@task(name="qbo-webhook-run")
def qbo_webhook_run(tenant: str) -> dict:
    """What the deployment run does, as a background task: the qbo-to-sps flow, in this process."""
    from ml_connector.flows.qbo_to_sps import qbo_to_sps

    return qbo_to_sps(tenant=tenant)


def task_worker_main() -> int:
    from prefect.task_worker import serve

    serve(qbo_webhook_run, limit=1)  # one run at a time, as the deployment's concurrency_limit: 1
    return 0


def webhook_service_main(port: int, in_process: bool = False) -> int:
    """The product's webhook app, its trigger handing the run to the task worker (or, as a lower
    bound, running the flow itself in a thread of the webhook service)."""
    import threading

    import uvicorn

    from ml_connector.webhooks.app import create_app

    def trigger(tenant: str) -> None:  # off the event loop
        if in_process:
            from ml_connector.flows.qbo_to_sps import qbo_to_sps

            threading.Thread(target=qbo_to_sps, kwargs={"tenant": tenant}, daemon=True).start()
        else:
            threading.Thread(target=qbo_webhook_run.delay, args=(tenant,), daemon=True).start()

    uvicorn.run(create_app(QBO_TENANT, trigger=trigger), host="127.0.0.1", port=port, log_level="warning")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--polls", default="10,1", help="runner poll intervals for the product's path")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--task-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--webhook-service", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--idle", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.task_worker:
        return task_worker_main()
    if args.webhook_service:
        return webhook_service_main(args.port, args.in_process)
    if args.idle:  # stands in for the worker when the webhook service runs the flow itself
        import time

        while True:
            time.sleep(3600)

    if str(HERE.parent) not in sys.path:
        sys.path.insert(0, str(HERE.parent))
    from bench.emulator_host import EmulatorHost
    from bench.suite import progress
    from bench.webhook import measure_webhook_latency
    from ml_connector.demo import prefect_api, prepare_environment

    home = Path(tempfile.mkdtemp(prefix="mlc-proto-webhook-"))
    prepare_environment(home)
    results = {}
    with prefect_api(), EmulatorHost() as host:
        for poll in (float(x) for x in args.polls.split(",") if x):
            progress(f"product path: served deployment, runner polling every {poll} s")
            results[f"trigger + deployment, runner poll {poll:g} s"] = measure_webhook_latency(host, home, args.events, poll)
        progress("prototype: task worker")
        results["task worker (.delay)"] = measure_webhook_latency(
            host, home, args.events,
            runner_argv=[sys.executable, str(HERE), "--task-worker"],
            service_argv=[sys.executable, str(HERE), "--webhook-service"])
        progress("product: task-worker dispatch (ml-connector webhooks worker)")
        results["product task worker (delivery task)"] = measure_webhook_latency(host, home, args.events,
                                                                                 dispatch="task-worker")
        progress("lower bound: the webhook service runs the flow in a thread")
        results["flow in the webhook service"] = measure_webhook_latency(
            host, home, args.events,
            runner_argv=[sys.executable, str(HERE), "--idle"],
            service_argv=[sys.executable, str(HERE), "--webhook-service", "--in-process"])
    print(f"QBO -> SPS webhook-to-posted latency, {args.events} notifications one at a time:")
    for name, r in results.items():
        print(f"  {name:34} p50 {r['p50_seconds']:>6} s   p95 {r['p95_seconds']:>6} s   all {r['latencies_seconds']}")
    if args.json:
        print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
