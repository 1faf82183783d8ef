"""Canary secrets: after real runs, none appears in the ledger, the logs, the artifacts, the
error texts the ledger stores, or the Prefect server's database."""

from __future__ import annotations

import logging
from pathlib import Path

from prefect.client.orchestration import get_client

from ml_connector.flows.intacct_to_sps import intacct_to_sps
from ml_connector.flows.sps_to_intacct import sps_to_intacct
from ml_connector.sandbox.base import FaultPlan

CANARY = ("CANARY-intacct-sender-7d1f", "CANARY-intacct-user-93ab", "CANARY-sps-client-5c2e")


def test_canary_secrets_never_leave_the_credentials(world_factory, caplog, prefect_home):
    world = world_factory(intacct_faults=FaultPlan(rate_5xx=0.1, rate_lost_write=0.2, seed=3))
    # re-key the sandbox with canary values and save them as the tenant's blocks
    world.intacct.sender_password, world.intacct.user_password = CANARY[0], CANARY[1]
    world.sps.client_secret = CANARY[2]
    world.save_blocks()
    world.add_documents(40, bad_fraction=0.1)
    world.add_ar_invoices(20)
    caplog.set_level(logging.DEBUG)
    sps_to_intacct(tenant="demo", return_state=True)
    intacct_to_sps(tenant="demo", return_state=True)
    world.intacct.expire_sessions()
    sps_to_intacct(tenant="demo", return_state=True)

    ledger_url = world.ledger.url
    haystacks = {"logs": caplog.text, "ledger": Path(ledger_url.removeprefix("sqlite:///")).read_bytes().decode("latin-1")}
    rows = world.ledger.documents("sps-intacct") + world.ledger.documents("intacct-sps")
    haystacks["ledger errors"] = " ".join(r.last_error or "" for r in rows)
    with get_client(sync_client=True) as client:
        haystacks["artifacts"] = " ".join(str(a.data) for a in client.read_artifacts())
    # the Prefect database itself: block documents are stored encrypted, logs and states plain
    for db in sorted(prefect_home.glob("*.db*")):
        haystacks[f"prefect database {db.name}"] = db.read_bytes().decode("latin-1")
    assert any(k.startswith("prefect database") for k in haystacks)
    for where, text in haystacks.items():
        for canary in CANARY:
            assert canary not in text, f"{canary} leaked into {where}"
    posted = world.ledger.status_counts("sps-intacct").get("posted", 0)
    assert posted > 0  # the canary credentials really were the ones used
