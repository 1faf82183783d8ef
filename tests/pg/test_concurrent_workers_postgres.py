"""Several worker processes run the same inbound flow at once on a PostgreSQL ledger, against
the sandbox over HTTP: every document is posted exactly once."""

from __future__ import annotations

import os
import subprocess
import sys

from ml_connector.credentials import save_block
from ml_connector.ledger.store import Ledger
from ml_connector.mappings.tenant import load_tenant, tenant_path
from ml_connector.sandbox.intacct import IntacctEmulator
from ml_connector.sandbox.seed import Seeded, seed_intacct_master, seed_sps_documents
from ml_connector.sandbox.serve import serve_in_thread
from ml_connector.sandbox.sps import SpsEmulator

RUN = "from ml_connector.flows.sps_to_intacct import sps_to_intacct; sps_to_intacct(tenant='pgdemo', page_size=40)"


def test_three_workers_same_flow_same_time_post_each_document_once(postgres_url, prefect_server, tmp_path):
    from sqlalchemy import text

    ledger = Ledger(postgres_url, tenant="pgdemo")
    with ledger.engine.begin() as conn:
        conn.execute(text("DELETE FROM document_events WHERE integration = 'sps-intacct'"))
        conn.execute(text("DELETE FROM documents WHERE integration = 'sps-intacct'"))
        conn.execute(text("DELETE FROM cursors"))
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "pgdemo.yaml").write_text(tenant_path("demo").read_text().replace("tenant: demo", "tenant: pgdemo"))
    mapping = load_tenant(tenants / "pgdemo.yaml")
    intacct, sps = IntacctEmulator(), SpsEmulator()
    served = [serve_in_thread(intacct), serve_in_thread(sps)]
    try:
        seeded = Seeded()
        seed_intacct_master(intacct, mapping)
        seed_sps_documents(sps, mapping, 300, 41, 0.0, seeded)
        save_block("pgdemo", "intacct", intacct.credentials())
        save_block("pgdemo", "sps", sps.credentials())
        env = {**os.environ, "PREFECT_API_URL": prefect_server, "ML_CONNECTOR_LEDGER_URL": postgres_url,
               "ML_CONNECTOR_TENANTS": str(tenants), "PREFECT_LOGGING_LEVEL": "ERROR"}
        workers = [subprocess.Popen([sys.executable, "-c", RUN], env=env) for _ in range(3)]
        codes = [w.wait(timeout=300) for w in workers]
        assert codes.count(0) >= 1
        subprocess.run([sys.executable, "-c", RUN], env=env, timeout=300, check=True)  # the next poll
        counts: dict = {}
        for bill in intacct.bills():
            key = (bill["VENDORID"], bill["RECORDID"])
            counts[key] = counts.get(key, 0) + 1
        assert set(counts) == seeded.expected_bills
        assert all(c == 1 for c in counts.values()), {k: c for k, c in counts.items() if c > 1}
        assert ledger.status_counts("sps-intacct") == {"posted": len(seeded.expected_bills)}
    finally:
        for s in served:
            s.stop()
        ledger.dispose()
