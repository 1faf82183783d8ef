"""The raw pipelines: each integration the benchmark measures, run by the engine's loop without
Prefect (``raw_engine.raw_run``) over the pipeline the product's flow runs. They send the same
HTTP requests and make the same ledger writes as the flows (``suite.assert_same_work`` checks
both on every repeat); only the flow and task runs, the run logger and the report's artifacts
are missing."""

from __future__ import annotations

from .raw_engine import raw_report, raw_run

__all__ = ["raw_intacct_to_sps", "raw_report", "raw_sps_to_intacct", "raw_sps_to_qbo"]


def raw_sps_to_intacct(tenant: str, page_size: int = 500) -> dict:
    """``flows/sps_to_intacct.py::sps_to_intacct`` (live cursor, no window) without Prefect."""
    from ml_connector.pipelines.sps_intacct import PIPELINE

    return raw_run(PIPELINE, tenant, page_size)


def raw_intacct_to_sps(tenant: str, page_size: int = 500) -> dict:
    """``flows/intacct_to_sps.py::intacct_to_sps`` (live cursor, no window) without Prefect."""
    from ml_connector.pipelines.intacct_sps import PIPELINE

    return raw_run(PIPELINE, tenant, page_size)


def raw_sps_to_qbo(tenant: str, page_size: int = 500) -> dict:
    """``flows/sps_to_qbo.py::sps_to_qbo`` (live cursor, no window) without Prefect, with its
    onboarding of partners that have no QBO vendor."""
    from ml_connector.pipelines.sps_qbo import PIPELINE

    return raw_run(PIPELINE, tenant, page_size)
