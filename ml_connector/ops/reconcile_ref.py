"""How a pipeline names its reconciliation without importing it: the frames are built with
pandas, which a flow run never needs, so the pipeline holds a reference that imports the
function on first call (``ml-connector reconcile``, the reconcile flow, the demo)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .reconcile import Frames


@dataclass(frozen=True)
class Reconciliation:
    """``ml_connector.ops.<module>.<function>(tenant resources) -> Frames``, imported when called."""

    module: str
    function: str

    def __call__(self, res: Any) -> Frames:
        return getattr(importlib.import_module(f"ml_connector.ops.{self.module}"), self.function)(res)
