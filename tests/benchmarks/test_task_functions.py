"""The raw pipelines' stand-in for Prefect (benchmarks/bench/task_functions.py): tasks run as their
functions while a raw run runs, and as Prefect tasks again after; a task reached any other way
is refused rather than quietly run through Prefect."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from prefect import get_run_logger, task
from prefect.utilities.annotations import opaque, quote

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from bench.task_functions import FunctionTask, tasks_as_functions  # noqa: E402
from ml_connector.tasks import sps  # noqa: E402


@task
def where(items: list[int]) -> tuple[list[int], str]:
    return [2 * i for i in items], threading.current_thread().name


@task
def total(doubled: tuple[list[int], str]) -> int:
    return sum(doubled[0])


def test_inside_the_product_modules_name_their_tasks_as_functions_and_after_as_tasks_again():
    original = sps.consume_files
    with tasks_as_functions():
        stand_in = sps.consume_files
        assert isinstance(stand_in, FunctionTask) and stand_in.fn is original.fn
    assert sps.consume_files is original


def test_a_call_runs_here_and_a_submission_on_the_pool_with_arguments_as_prefect_passes_them():
    with tasks_as_functions() as pool:
        plain = FunctionTask(where, pool)
        assert plain(opaque([1, 2])) == ([2, 4], threading.current_thread().name)
        future = plain.submit(quote([3]))
        doubled, thread = future.result()
        assert doubled == [6] and thread.startswith("raw-task")
        # a future given as an argument is waited for, as Prefect resolves one
        assert FunctionTask(total, pool)(plain.submit([1, 2])) == 6


def test_a_task_reached_other_than_through_a_module_global_is_refused():
    with tasks_as_functions(), pytest.raises(RuntimeError, match="ran inside a raw pipeline"):
        where([1])


def test_a_part_asking_for_a_run_logger_gets_a_silent_one():
    with tasks_as_functions():
        get_run_logger().info("not sent anywhere")  # outside a run this raises otherwise
