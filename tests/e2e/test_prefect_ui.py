"""A person's view: the Prefect UI, in headless Chromium driven by Playwright, shows the
deployments from prefect.yaml and a completed run of ours with its report artifact.

Chromium comes from Debian's packages (``.ci/run`` installs it); Playwright drives that
binary through ``executable_path`` and never downloads a browser of its own."""

from __future__ import annotations

import os
import shutil

import pytest
from e2e_support import run
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
from prefect.settings import PREFECT_API_URL

from ml_connector.sandbox.seed import seed_sps_documents

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it from Debian's packages")
        pytest.skip("chromium is not installed here (apt-get install chromium); CI runs this test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def completed_run(deployed):
    """A finished deployment run, started before Playwright's event loop exists (Prefect's
    sync API turns async when it sees a running loop)."""
    seed_sps_documents(deployed["sps"], deployed["mapping"], 10, 31, 0.0, deployed["seeded"])
    flow_run = run("sps-to-intacct/sps-to-intacct")
    assert flow_run.state.is_completed()
    # the tenant's own run (a subflow of the deployment run, flows/tenants.py) holds its report
    flt = FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run.id]))
    with get_client(sync_client=True) as client:
        [tenant_run] = client.read_flow_runs(flow_run_filter=flt)
    assert tenant_run.state.is_completed()
    return tenant_run


def test_ui_shows_deployments_and_a_completed_run_with_its_artifact(completed_run, browser, tmp_path):
    flow_run = completed_run
    ui = PREFECT_API_URL.value().removesuffix("/api")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{ui}/deployments", wait_until="networkidle")
        for name in ("sps-to-intacct", "intacct-to-sps", "replay", "reconcile"):
            page.get_by_text(name, exact=True).first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "deployments.png"))

        page.goto(f"{ui}/runs/flow-run/{flow_run.id}", wait_until="networkidle")
        page.get_by_text("Completed").first.wait_for(timeout=30_000)
        page.get_by_text("Artifacts", exact=True).first.click()  # the run page's Artifacts tab
        page.get_by_text("sps-intacct-run-report").first.wait_for(timeout=30_000)
        page.screenshot(path=str(tmp_path / "flow-run.png"))
    finally:
        page.close()
