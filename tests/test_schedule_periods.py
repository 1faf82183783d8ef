"""Schedules are defined once, in prefect.yaml (or on the server, once deployed): what the
alerting reads is what the deployments run on."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ml_connector.integrations import INTEGRATIONS
from ml_connector.ops.schedules import _declared

PROJECT = Path(__file__).resolve().parents[1] / "prefect.yaml"


@pytest.mark.parametrize("name", sorted(INTEGRATIONS))
def test_every_integration_has_its_period_in_prefect_yaml(name):
    every = _declared(INTEGRATIONS[name].deployment.split("/", 1)[1], PROJECT)
    assert every is not None and timedelta(minutes=1) <= every <= timedelta(days=1)


def test_intervals_and_crons_are_read_as_the_time_between_runs(tmp_path):
    project = tmp_path / "prefect.yaml"
    project.write_text("deployments:\n"
                       "  - name: a\n    schedules:\n      - interval: 600\n"
                       "  - name: b\n    schedules:\n      - cron: '30 5 * * *'\n"
                       "  - name: c\n    schedules:\n      - interval: 3600\n      - interval: 120\n"
                       "  - name: d\n    schedules:\n      - interval: 60\n        active: false\n"
                       "  - name: e\n")
    assert _declared("a", project) == timedelta(minutes=10)
    assert _declared("b", project) == timedelta(days=1)
    assert _declared("c", project) == timedelta(minutes=2)  # the shortest: absence shows soonest
    assert _declared("d", project) is None  # paused
    assert _declared("e", project) is None
    assert _declared("missing", project) is None
