"""The delivery worker as the webhook service's child process: started with the service, started
again (with backoff, logged) when it dies, stopped with the service; ``--no-worker`` starts none."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

import httpx
import psutil
import pytest

from ml_connector.webhooks.worker import WorkerSupervisor, worker_argv, worker_env
from tests.waiting import wait_for

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def test_the_supervisor_restarts_a_dead_child_with_backoff_and_stops_it(caplog):
    supervisor = WorkerSupervisor(SLEEPER, dict(os.environ), backoff=(0.2, 0.5), stable_seconds=3600)
    caplog.set_level(logging.INFO, logger="ml_connector.webhooks.worker")
    supervisor.start()
    try:
        first = wait_for(lambda: supervisor.pid, "the first child", timeout=30, interval=0.05)
        os.kill(first, signal.SIGKILL)
        second = wait_for(lambda: supervisor.pid if supervisor.pid not in (None, first) else None,
                          "the restarted child", timeout=30, interval=0.05)
        assert supervisor.starts == 2 and psutil.Process(second).ppid() == os.getpid()
        os.kill(second, signal.SIGKILL)
        wait_for(lambda: supervisor.starts == 3, "the second restart", timeout=30, interval=0.05)
    finally:
        supervisor.stop()
    assert supervisor.proc.poll() is not None  # stopped and reaped
    restarts = [r.getMessage() for r in caplog.records if "restarting it in" in r.getMessage()]
    assert restarts == [f"delivery worker (pid {first}) exited with code -9; restarting it in 0.2 s",
                        f"delivery worker (pid {second}) exited with code -9; restarting it in 0.5 s"]
    assert supervisor.starts == 3  # none after stop


def test_the_worker_command_runs_in_the_same_interpreter_and_prefect_api(prefect_server):
    assert worker_argv("acme") == [sys.executable, "-m", "ml_connector.cli", "webhooks", "worker", "--tenant", "acme"]
    assert worker_env()["PREFECT_API_URL"] == prefect_server


def _serve(port: int, *extra: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ml_connector.cli", "webhooks", "serve", "--tenant", "demo-qbo",
                             "--port", str(port), *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _workers(service: subprocess.Popen) -> list[psutil.Process]:
    try:
        children = psutil.Process(service.pid).children()
    except psutil.NoSuchProcess:
        return []
    return [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE
            and "worker" in c.cmdline() and "webhooks" in c.cmdline()]


@pytest.mark.prefect
def test_serve_runs_its_worker_restarts_it_and_stops_it(prefect_server, tmp_path):
    from ml_connector.sandbox.serve import free_port

    env = {k: v for k, v in os.environ.items() if k != "ML_CONNECTOR_WEBHOOK_DISPATCH"}  # the default
    env.update(PREFECT_API_URL=prefect_server, ML_CONNECTOR_LEDGER_URL=f"sqlite:///{tmp_path / 'l.db'}")
    port = free_port()
    service = _serve(port, env=env)
    try:
        wait_for(lambda: _healthy(port) or service.poll() is not None, "the webhook service", timeout=120)
        assert service.poll() is None
        [worker] = wait_for(lambda: _workers(service), "the delivery worker child")
        assert worker.cmdline()[-4:] == ["webhooks", "worker", "--tenant", "demo-qbo"]
        assert worker.environ().get("PREFECT_API_URL") == prefect_server
        worker.kill()  # it dies: the service starts another
        [again] = wait_for(lambda: [w for w in _workers(service) if w.pid != worker.pid], "the restarted worker")
        service.send_signal(signal.SIGTERM)  # the service stops: its worker goes with it
        assert service.wait(timeout=60) == 0
        assert not again.is_running() or again.status() == psutil.STATUS_ZOMBIE
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
    log = service.stderr.read().decode()
    assert "exited with code -9; restarting it in 1 s" in log, log[-2000:]


@pytest.mark.prefect
def test_serve_no_worker_and_the_trigger_mode_start_no_worker(prefect_server, tmp_path):
    from ml_connector.sandbox.serve import free_port

    env = dict(os.environ, PREFECT_API_URL=prefect_server, ML_CONNECTOR_LEDGER_URL=f"sqlite:///{tmp_path / 'l.db'}")
    env.pop("ML_CONNECTOR_WEBHOOK_DISPATCH", None)
    for extra, mode in ((("--no-worker",), None), ((), "trigger")):
        port = free_port()
        service = _serve(port, *extra, env=dict(env, **({"ML_CONNECTOR_WEBHOOK_DISPATCH": mode} if mode else {})))
        try:
            wait_for(lambda port=port, service=service: _healthy(port) or service.poll() is not None,
                     "the webhook service", timeout=120)
            assert service.poll() is None and psutil.Process(service.pid).children() == []
        finally:
            service.terminate()
            service.wait(timeout=60)
