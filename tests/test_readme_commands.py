"""Every command line of the README's ```bash blocks is run here, or named below with the test
that runs it: a command added to the README cannot go untested silently.

Commands that need no server (preview, --version, --help, sandbox serve) run as written from the
checkout (sandbox serve on a free port instead of the README's, so a busy port cannot fail it;
its first line must be the JSON it promises). The rest need a Prefect server, a worker or the
whole product, and are covered by the tests named in COVERED_ELSEWHERE.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ml_connector.sandbox.serve import free_port

REPO = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("ml-connector"))

# The leading words of a README command -> the test that runs it (path::name).
COVERED_ELSEWHERE = {
    "make demo": "tests/test_demo_tenants.py::test_every_integration_of_every_tenant_reconciles (run_demo, what make demo runs)",
    "make test": "the suite itself",
    "make test-fast": "the suite itself (its fast tier)",
    "make install": "tests/e2e/conftest.py (the e2e suite runs from the installed .venv)",
    ".": "shell: activates the venv (no command of ours)",
    "export": "shell: sets a variable (tests/e2e/conftest.py sets the same PREFECT_API_URL and ML_CONNECTOR_WORKDIR)",
    "prefect server start": "tests/conftest.py::prefect_server, tests/e2e/test_schedules.py::test_every_scheduled_deployment_gets_scheduled_runs",
    "prefect work-pool create": "tests/e2e/test_schedules.py::test_a_scheduled_run_completes_on_a_process_worker",
    "prefect --no-prompt deploy": "tests/e2e/test_schedules.py::test_every_scheduled_deployment_gets_scheduled_runs",
    "prefect deploy": "tests/e2e/test_schedules.py::test_every_scheduled_deployment_gets_scheduled_runs",
    "prefect worker start": "tests/e2e/test_schedules.py::test_a_scheduled_run_completes_on_a_process_worker",
    "ml-connector setup": "tests/flows/test_operations.py::test_setup_reads_env_saves_blocks_and_creates_automations, "
                          "tests/test_cli_errors.py::test_setup_refuses_credentials_that_do_not_sign_in_and_saves_nothing",
    "ml-connector check": "tests/flows/test_operations.py::test_check_says_connected_or_why_not",
    "ml-connector webhooks serve": "tests/webhooks/test_webhook_worker.py::test_serve_runs_its_worker_restarts_it_and_stops_it",
    "ml-connector webhooks worker": "tests/webhooks/test_webhook_worker.py::test_the_worker_command_runs_in_the_same_interpreter_and_prefect_api",
    "ml-connector status": "tests/test_cli_tenants.py::test_status_shows_the_tenants_counts_and_a_replay_hint_with_its_tenant",
    "ml-connector replay": "tests/flows/test_operations.py::test_replay_after_a_fix_posts_the_failed_documents_once, "
                           "tests/test_cli_tenants.py::test_replay_refuses_another_tenants_id_in_one_line_and_changes_nothing",
    "ml-connector reconcile": "tests/flows/test_operations.py::test_reconcile_finds_nothing_wrong_then_a_missing_bill",
    "ml-connector prune": "tests/test_cli_tenants.py::test_prune_is_the_tenants_only",
    "ml-connector ledger upgrade": "tests/test_cli_tenants.py::test_ledger_upgrade_refuses_without_the_tenant_then_upgrades_with_it",
}


def readme_commands() -> list[str]:
    """Every command line of the README's ```bash blocks, comments dropped."""
    text = (REPO / "README.md").read_text()
    lines = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                lines.append(shlex.join(words))
    return lines


def ours(words: list[str]) -> bool:
    return bool(words) and words[0] in (".venv/bin/ml-connector", "ml-connector")


def runnable(command: str) -> bool:
    words = shlex.split(command)
    if not ours(words):
        return False
    return words[1] in ("preview", "--version", "--help") or words[1:3] == ["sandbox", "serve"]


def covered_by(command: str) -> str | None:
    words = shlex.split(command)
    if ours(words):
        words = ["ml-connector", *words[1:]]
    for n in range(len(words), 0, -1):
        if " ".join(words[:n]) in COVERED_ELSEWHERE:
            return COVERED_ELSEWHERE[" ".join(words[:n])]
    return None


COMMANDS = readme_commands()
RUN_HERE = [c for c in COMMANDS if runnable(c)]


def env() -> dict:
    """The user's environment on a fresh clone: nothing of ours set."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("ML_CONNECTOR_") or k == "ML_CONNECTOR_TASK_RETRY_DELAYS"}


def test_the_readme_has_the_commands_this_test_expects():
    assert len(RUN_HERE) >= 10  # the parse found the "Other commands" block
    assert any("preview" in c for c in RUN_HERE) and any("sandbox serve" in c for c in RUN_HERE)


def test_every_other_readme_command_names_the_test_that_runs_it():
    uncovered = [c for c in COMMANDS if not runnable(c) and covered_by(c) is None]
    assert not uncovered, f"README commands neither run here nor listed in COVERED_ELSEWHERE: {uncovered}"


@pytest.mark.parametrize("command", [c for c in RUN_HERE if " sandbox serve " not in f" {c} "])
def test_readme_command_runs_as_written(command):
    words = shlex.split(command)
    done = subprocess.run([CLI, *words[1:]], cwd=REPO, env=env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [c for c in RUN_HERE if " sandbox serve " in f" {c} "])
def test_readme_sandbox_serve_prints_its_json_first(command):
    words = shlex.split(command)
    args = words[1:]
    if "--port" in args:  # a free port, not the README's: a busy port says nothing about the command
        args[args.index("--port") + 1] = str(free_port())
    proc = subprocess.Popen([CLI, *args], cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
    try:
        first = lines.get(timeout=120)
        info = json.loads(first)
        assert info["system"] == args[args.index("--system") + 1]
        assert info["base_url"].startswith("http://127.0.0.1:") and info["credentials"]
        assert proc.poll() is None  # still serving
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
