"""How often an integration's deployment runs, read from where schedules are defined: the
deployment on the Prefect server (as the operator may have changed it in the UI), else the
project's ``prefect.yaml``. Nothing else in the code states a schedule."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import yaml

log = logging.getLogger("ml_connector.ops.schedules")

PROJECT_FILE = "prefect.yaml"


def period(deployment: str) -> timedelta | None:
    """The period of ``deployment`` ("<flow>/<deployment>"): the shortest of its active
    schedules on the server, else of its schedules in prefect.yaml; None when it has none."""
    found = _deployed(deployment)
    return found if found is not None else _declared(deployment.split("/", 1)[1])


def _deployed(deployment: str) -> timedelta | None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            found = client.read_deployment_by_name(deployment)
    except ObjectNotFound:
        return None
    schedules = [s.schedule for s in found.schedules or [] if s.active]
    return _shortest(_of_model(s) for s in schedules)


def _declared(name: str, project: Path | None = None) -> timedelta | None:
    path = project or _project_file()
    if path is None:
        return None
    deployments = (yaml.safe_load(path.read_text()) or {}).get("deployments") or []
    for entry in deployments:
        if entry.get("name") == name:
            return _shortest(_of_yaml(s) for s in entry.get("schedules") or [] if s.get("active", True))
    return None


def _project_file() -> Path | None:
    """prefect.yaml in the current folder (where `prefect deploy` runs), else beside the package
    (a source checkout)."""
    for folder in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (folder / PROJECT_FILE).is_file():
            return folder / PROJECT_FILE
    return None


def _of_yaml(entry: dict) -> timedelta | None:
    if "interval" in entry:
        return timedelta(seconds=float(entry["interval"]))
    if "cron" in entry:
        return _cron_period(entry["cron"], entry.get("timezone") or "UTC")
    return None


def _of_model(schedule) -> timedelta | None:
    interval = getattr(schedule, "interval", None)
    if interval is not None:
        return interval if isinstance(interval, timedelta) else timedelta(seconds=float(interval))
    cron = getattr(schedule, "cron", None)
    return _cron_period(cron, getattr(schedule, "timezone", None) or "UTC") if cron else None


def _cron_period(cron: str, timezone: str) -> timedelta:
    """The time between a cron schedule's next two runs."""
    import inspect

    from prefect.server.schemas.schedules import CronSchedule
    from prefect.utilities.asyncutils import run_coro_as_sync

    dates = CronSchedule(cron=cron, timezone=timezone).get_dates(2)
    # sync-compatible: a coroutine where an event loop runs (inside a flow or a test)
    first, second = run_coro_as_sync(dates) if inspect.isawaitable(dates) else dates
    return second - first


def _shortest(periods) -> timedelta | None:
    known = [p for p in periods if p is not None]
    return min(known) if known else None
