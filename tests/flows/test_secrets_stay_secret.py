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


QBO_CANARY = ("CANARY-qbo-client-secret-4e1a", "CANARY-qbo-verifier-b27c")


def test_qbo_canary_secrets_and_rotated_tokens_never_leave_the_credentials(mount, tmp_path, monkeypatch, caplog,
                                                                           prefect_home):
    """SPS <-> QBO with canary client secret and webhook verifier token, access tokens that
    expire mid-run (so refresh tokens are used and rotated and saved back to the block), and a
    signed webhook plus a forged one. Neither canary nor any refresh token the run held may
    appear outside the encrypted block."""
    from starlette.testclient import TestClient

    from ml_connector.credentials import save_block
    from ml_connector.demo.parts.sps_qbo import TENANT, seed_qbo_company, seed_qbo_invoices
    from ml_connector.flows.qbo_to_sps import qbo_to_sps
    from ml_connector.flows.sps_to_qbo import sps_to_qbo
    from ml_connector.mappings.tenant import load_tenant, tenant_path
    from ml_connector.runtime.tenant import reset, tenant
    from ml_connector.sandbox.qbo import QboEmulator
    from ml_connector.sandbox.seed import Seeded, seed_sps_documents
    from ml_connector.sandbox.sps import SpsEmulator
    from ml_connector.webhooks.app import create_app

    monkeypatch.setenv("ML_CONNECTOR_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.setenv("ML_CONNECTOR_HOME", str(tmp_path))
    reset()
    # Access tokens expire every 3 s, so the runs refresh (and rotate) mid-way. Not shorter: a
    # refresh saves the rotated token to its block before the request is resent, and on a busy
    # machine that save (Prefect's API answering 503, retried) took over 2 s, so a 0.5 s token
    # was dead again on arrival and the run failed on the second 401 (seen once in CI).
    qbo = QboEmulator(client_secret=QBO_CANARY[0], verifier_token=QBO_CANARY[1], access_ttl=3.0,
                      faults=FaultPlan(rate_5xx=0.1, seed=5))
    sps = SpsEmulator()
    mount(qbo.base_url, qbo.transport())
    mount(sps.base_url, sps.transport())
    mapping = load_tenant(tenant_path(TENANT))
    unmapped = seed_qbo_company(qbo, mapping)
    seed_qbo_invoices(qbo, mapping, 12, 3, unmapped)
    seed_sps_documents(sps, mapping, 30, 4, 0.1, Seeded())
    save_block(TENANT, "sps", sps.credentials())
    save_block(TENANT, "qbo", qbo.credentials())
    refresh_tokens = {qbo.current_refresh_token()}
    caplog.set_level(logging.DEBUG)

    changes = [c for c in qbo.changes() if c.entity == "Invoice"][:3]
    body, headers = qbo.signed_notification(changes, fmt="cloudevents")
    with TestClient(create_app(TENANT, trigger=None)) as client:
        assert client.post("/webhooks/qbo", content=body, headers=headers).status_code < 300
        forged = {**headers, "intuit-signature": "Zm9yZ2Vk"}
        assert client.post("/webhooks/qbo", content=body + b" ", headers=forged).status_code >= 400
    sps_to_qbo(tenant=TENANT, return_state=True)
    refresh_tokens.add(qbo.current_refresh_token())
    qbo_to_sps(tenant=TENANT, return_state=True)
    refresh_tokens.add(qbo.current_refresh_token())
    assert qbo.refreshes > 0  # the refresh path, and saving rotated tokens, really ran

    ledger = tenant(TENANT).ledger
    haystacks = {"logs": caplog.text,
                 "ledger": Path(ledger.url.removeprefix("sqlite:///")).read_bytes().decode("latin-1")}
    rows = [r for name in ("sps-qbo", "qbo-sps", "qbo-webhook") for r in ledger.documents(name)]
    haystacks["ledger errors"] = " ".join(r.last_error or "" for r in rows)
    with get_client(sync_client=True) as client:
        haystacks["artifacts"] = " ".join(str(a.data) for a in client.read_artifacts())
    for db in sorted(prefect_home.glob("*.db*")):
        haystacks[f"prefect database {db.name}"] = db.read_bytes().decode("latin-1")
    secrets = set(QBO_CANARY) | {t for t in refresh_tokens if t}
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a QBO secret ({secret[:6]}...) leaked into {where}"
    assert ledger.status_counts("sps-qbo").get("posted", 0) > 0 and ledger.status_counts("qbo-sps").get("posted", 0) > 0
