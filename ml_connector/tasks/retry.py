"""The Prefect task retry policy: outages that outlast one request's own retries.

Only transient errors are retried; an AuthError or a RejectedError would fail the same way
again, and retrying them only delays the person who must act.
"""

from __future__ import annotations

from .. import settings
from ..connectors.errors import is_retryable


def _delays() -> list[float]:
    # The demo and the tests shorten these; production keeps minutes-long outages in mind.
    return settings.task_retry_delays()


RETRY_DELAYS = _delays()


def retry_transient(task, task_run, state) -> bool:
    """``retry_condition_fn`` for every task that talks to an external system."""
    try:
        state.result()
    except Exception as exc:  # a failed state re-raises the task's error
        return is_retryable(exc)
    return False


def retry_options() -> dict:
    return dict(retries=len(RETRY_DELAYS), retry_delay_seconds=RETRY_DELAYS, retry_condition_fn=retry_transient)
