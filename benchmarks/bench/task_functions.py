"""Prefect tasks run as their functions, for the raw pipelines (``raw_engine``).

A pipeline's own parts call Prefect tasks: the SPS reader submits the next page's download, the
Intacct -> SPS follow-up queues and sends acknowledgements, the SPS -> QBO onboarding recovers
and syncs vendors, and the engine's page loop and drain call the record, post and settle tasks.
Inside :func:`tasks_as_functions` every task those modules name runs as its function instead
(``task.fn``, its ``quote``/``opaque`` arguments unwrapped as Prefect would), in the caller's
thread; a submitted one runs on a thread pool sized as the product's task runner, so the raw
run overlaps the same I/O the product does. No flow or task run is made, and a Prefect task
that still reaches Prefect's engine is an error: the raw run would no longer be raw.

The raw run calls the product's code rather than a copy of it, so it cannot drift from it; the
price is that the module globals naming tasks are swapped while it runs. Nothing else runs in
a benchmark process meanwhile (product and raw runs take turns), and they are put back after.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

PACKAGE = "ml_connector"


class FunctionTask:
    """A Prefect task as its function: called, it runs ``task.fn`` here; submitted, it runs on
    ``pool`` and returns a ``concurrent.futures.Future`` (``.result()``, as a Prefect future)."""

    def __init__(self, task, pool: ThreadPoolExecutor) -> None:
        self.task, self.fn, self.name, self._pool = task, task.fn, task.name, pool

    def __call__(self, *args: Any, wait_for: Any = None, return_state: bool = False, **kwargs: Any) -> Any:
        if return_state:
            raise NotImplementedError(f"{self.name}: a raw run has no task states")
        for future in wait_for or ():
            future.result()
        return self.fn(*(_resolved(a) for a in args), **{k: _resolved(v) for k, v in kwargs.items()})

    def submit(self, *args: Any, **kwargs: Any) -> Future:
        # in a copy of the caller's context, as Prefect's task runner does
        return self._pool.submit(contextvars.copy_context().run, self.__call__, *args, **kwargs)


def _resolved(value: Any) -> Any:
    """An argument as the task's function receives it from Prefect: annotations unwrapped,
    futures waited for (only at the top level, as Prefect resolves them)."""
    from prefect.utilities.annotations import BaseAnnotation

    if isinstance(value, BaseAnnotation):
        return value.unwrap()
    if isinstance(value, Future):
        return value.result()
    return value


def plain(task, pool: ThreadPoolExecutor) -> FunctionTask | None:
    """``task`` as a :class:`FunctionTask` (None stays None: an optional pipeline part)."""
    return None if task is None else FunctionTask(task, pool)


@contextlib.contextmanager
def tasks_as_functions() -> Iterator[ThreadPoolExecutor]:
    """Inside, every Prefect task a loaded ``ml_connector`` module names runs as its function,
    and Prefect's run loggers are off (a part asking for one gets a silent logger, as the raw
    run has no run to log to). Yields the pool submitted tasks run on."""
    import prefect.task_engine
    from prefect.logging import disable_run_logger
    from prefect.settings import get_current_settings
    from prefect.tasks import Task

    workers = get_current_settings().tasks.runner.thread_pool_max_workers
    swapped: list[tuple[object, str, object]] = []
    run_task = prefect.task_engine.run_task
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="raw-task") as pool, disable_run_logger():
        try:
            for name, module in list(sys.modules.items()):
                if module is None or not (name == PACKAGE or name.startswith(PACKAGE + ".")):
                    continue
                for attr, value in list(vars(module).items()):
                    if isinstance(value, Task):
                        swapped.append((module, attr, value))
                        setattr(module, attr, FunctionTask(value, pool))
            prefect.task_engine.run_task = _refuse
            yield pool
        finally:
            prefect.task_engine.run_task = run_task
            for module, attr, value in swapped:
                setattr(module, attr, value)


def _refuse(task, *args: Any, **kwargs: Any) -> Any:
    raise RuntimeError(f"Prefect task {getattr(task, 'name', task)!r} ran inside a raw pipeline: a part reaches it "
                       "other than through a module global, so bench/task_functions.py does not see it")
