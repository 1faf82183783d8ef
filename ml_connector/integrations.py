"""The catalogue of integrations this build runs: name, pipeline, flow, deployment and systems.

The CLI (status, replay, preview, reconcile, check) and the replay flow look integrations up
here, so adding an integration means adding its pipeline and one entry, not editing every
command.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import Pipeline


@dataclass(frozen=True)
class Integration:
    name: str  # the ledger's integration name
    flow_module: str
    flow_name: str
    deployment: str  # "<flow name>/<deployment name>" as in prefect.yaml
    systems: tuple[str, ...]  # credential blocks it needs: <tenant>-<system>
    # Its module under ml_connector.pipelines (which holds its PIPELINE): imported on first use
    # of :attr:`pipeline`, so commands that only read the catalogue never import Prefect.
    pipeline_module: str
    # The tenant mapping section the integration needs (None: always configured); commands
    # that act on every integration skip it for tenants without that section. A dotted path
    # ("commerce.procure") names a subsection.
    mapping_section: str | None = None
    # Webhook notifications of this source system start it (webhooks/adobe.py stores one copy
    # per consuming integration); None: not webhook-driven through the shared inbox.
    webhook_source: str | None = None
    # The sandbox tenant whose mapping file `preview` uses when none is named.
    sandbox_tenant: str = "demo"

    @property
    def pipeline(self) -> Pipeline:
        """The integration's engine pipeline: what the flow runs, replay posts with and preview
        maps with."""
        return importlib.import_module(f"ml_connector.pipelines.{self.pipeline_module}").PIPELINE


INTEGRATIONS: dict[str, Integration] = {
    "sps-intacct": Integration(
        name="sps-intacct",
        flow_module="ml_connector.flows.sps_to_intacct",
        flow_name="sps_to_intacct",
        deployment="sps-to-intacct/sps-to-intacct",
        systems=("sps", "intacct"),
        pipeline_module="sps_intacct",
    ),
    "intacct-sps": Integration(
        name="intacct-sps",
        flow_module="ml_connector.flows.intacct_to_sps",
        flow_name="intacct_to_sps",
        deployment="intacct-to-sps/intacct-to-sps",
        systems=("intacct", "sps"),
        pipeline_module="intacct_sps",
    ),
    "sps-qbo": Integration(
        name="sps-qbo",
        flow_module="ml_connector.flows.sps_to_qbo",
        flow_name="sps_to_qbo",
        deployment="sps-to-qbo/sps-to-qbo",
        systems=("sps", "qbo"),
        pipeline_module="sps_qbo",
        sandbox_tenant="demo-qbo",
        mapping_section="qbo",
    ),
    "qbo-sps": Integration(
        name="qbo-sps",
        flow_module="ml_connector.flows.qbo_to_sps",
        flow_name="qbo_to_sps",
        deployment="qbo-to-sps/qbo-to-sps",
        systems=("qbo", "sps"),
        pipeline_module="qbo_sps",
        sandbox_tenant="demo-qbo",
        mapping_section="qbo",
    ),
    "intacct-sterling": Integration(
        name="intacct-sterling",
        flow_module="ml_connector.flows.intacct_to_sterling",
        flow_name="intacct_to_sterling",
        deployment="intacct-to-sterling/intacct-to-sterling",
        systems=("intacct", "sterling"),
        pipeline_module="intacct_sterling",
        mapping_section="sterling",
    ),
    "sterling-inbound": Integration(
        name="sterling-inbound",
        flow_module="ml_connector.flows.sterling_mailbox",
        flow_name="sterling_mailbox",
        deployment="sterling-mailbox/sterling-mailbox",
        systems=("sterling",),
        pipeline_module="sterling_inbound",
        mapping_section="sterling",
    ),
    "commerce-intacct-ap": Integration(
        name="commerce-intacct-ap",
        flow_module="ml_connector.flows.commerce_to_intacct_ap",
        flow_name="commerce_to_intacct_ap",
        deployment="commerce-to-intacct-ap/commerce-to-intacct-ap",
        systems=("adobe", "intacct"),
        pipeline_module="commerce_ap",
        sandbox_tenant="demo-commerce",
        mapping_section="commerce.procure",
        webhook_source="adobe",
    ),
    # Webhook notifications start it through its prefect.yaml trigger, but it keeps no inbox of
    # them: every run reads Commerce's changes by cursor, so a notification only means "now".
    "commerce-intacct-o2c": Integration(
        name="commerce-intacct-o2c",
        flow_module="ml_connector.flows.commerce_to_intacct_o2c",
        flow_name="commerce_to_intacct_o2c",
        deployment="commerce-to-intacct-o2c/commerce-to-intacct-o2c",
        systems=("adobe", "intacct"),
        pipeline_module="commerce_o2c",
        sandbox_tenant="demo-commerce",
        mapping_section="commerce.o2c",
    ),
}


def configured(spec: Integration, mapping) -> bool:
    """Whether a tenant's mapping file configures ``spec``."""
    if spec.mapping_section is None:
        return True
    section = mapping
    for part in spec.mapping_section.split("."):
        section = getattr(section, part, None)
    return section is not None


def get(name: str) -> Integration:
    try:
        return INTEGRATIONS[name]
    except KeyError:
        raise ValueError(f"unknown integration {name!r} (known: {', '.join(INTEGRATIONS)})") from None


def load(ref: str):
    """Import ``module:attribute``."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
