"""How the engine hands its plain data to Prefect tasks."""

from __future__ import annotations

from typing import TypeVar, cast

from prefect.utilities.annotations import opaque

T = TypeVar("T")


def as_is(value: T) -> T:
    """``value`` for a task argument, passed as it is: plain data holds no futures, and Prefect
    would otherwise walk every document of a page (twice per call) looking for them. Prefect
    unwraps the mark before the task runs, so the task receives ``value``: typed as such."""
    return cast(T, opaque(value))
