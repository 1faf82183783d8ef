"""The engine every integration runs on: a :class:`Pipeline` names the integration's parts,
:func:`run` does the rest the same way for all of them."""

from .context import MAX_PAGES, Run, current_run_id
from .pipeline import Batch, Page, Pipeline
from .run import run, run_step

__all__ = ["MAX_PAGES", "Batch", "Page", "Pipeline", "Run", "current_run_id", "run", "run_step"]
