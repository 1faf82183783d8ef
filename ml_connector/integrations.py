"""The catalogue of integrations this build runs: name, flow, deployment and systems.

The CLI (status, replay, reconcile, check) and the replay flow look integrations up here, so
adding an integration means adding one entry, not editing every command.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Integration:
    name: str  # the ledger's integration name
    flow_module: str
    flow_name: str
    deployment: str  # "<flow name>/<deployment name>" as in prefect.yaml
    systems: tuple[str, ...]  # credential blocks it needs: <tenant>-<system>
    post_task: str  # "module:function" of the task that posts ledger ids
    schedule_minutes: int


INTEGRATIONS: dict[str, Integration] = {
    "sps-intacct": Integration(
        name="sps-intacct",
        flow_module="ml_connector.flows.sps_to_intacct",
        flow_name="sps_to_intacct",
        deployment="sps-to-intacct/sps-to-intacct",
        systems=("sps", "intacct"),
        post_task="ml_connector.tasks.intacct:post_bills",
        schedule_minutes=10,
    ),
    "intacct-sps": Integration(
        name="intacct-sps",
        flow_module="ml_connector.flows.intacct_to_sps",
        flow_name="intacct_to_sps",
        deployment="intacct-to-sps/intacct-to-sps",
        systems=("intacct", "sps"),
        post_task="ml_connector.tasks.outbound:send_documents",
        schedule_minutes=10,
    ),
}


def get(name: str) -> Integration:
    try:
        return INTEGRATIONS[name]
    except KeyError:
        raise ValueError(f"unknown integration {name!r} (known: {', '.join(INTEGRATIONS)})") from None


def load(ref: str):
    """Import ``module:attribute``."""
    import importlib

    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
