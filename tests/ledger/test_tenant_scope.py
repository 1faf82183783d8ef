"""Two tenants on one ledger with the same partner ids and document numbers: nothing of one is
read, skipped, claimed, requeued, counted or reported as the other's."""

from __future__ import annotations

import pytest

from ml_connector.ledger.schema import FAILED, POSTED, RECEIVED
from ml_connector.ledger.store import Incoming, Ledger, Outcome

SI = "sps-intacct"
PAGE = [Incoming("order", "WALMART", f"PO-{n}", f"out/PO-{n}.xml", b"<Order/>") for n in range(10)]


@pytest.fixture()
def tenants(tmp_path):
    acme = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", tenant="acme")
    yield acme, acme.for_tenant("beta")
    acme.dispose()


def test_the_same_document_numbers_are_new_for_each_tenant(tenants):
    acme, beta = tenants
    assert len(acme.ingest(SI, PAGE, "run-a").new_ids) == 10
    second = beta.ingest(SI, PAGE, "run-b")
    assert len(second.new_ids) == 10 and second.duplicates == 0
    assert acme.status_counts(SI) == {RECEIVED: 10} and beta.status_counts(SI) == {RECEIVED: 10}


def test_a_tenant_cannot_claim_requeue_or_read_the_others_documents(tenants):
    acme, beta = tenants
    a_ids = acme.ingest(SI, PAGE, "run-a").new_ids
    beta.ingest(SI, PAGE, "run-b")
    assert beta.claim(SI, a_ids, "run-b") == []
    assert beta.documents(SI, ids=a_ids) == []
    claimed = acme.claim(SI, a_ids, "run-a")
    acme.record_outcomes(SI, [Outcome(c.id, FAILED, error_class="rejected", error="bad vendor") for c in claimed], "run-a")
    assert beta.requeue(SI, a_ids, "run-b") == 0
    beta.record_outcomes(SI, [Outcome(i, POSTED, target_id="x") for i in a_ids], "run-b")  # ids not beta's: no effect
    assert acme.status_counts(SI) == {FAILED: 10}
    assert beta.pending_ids(SI) != a_ids and len(beta.pending_ids(SI)) == 10
    assert beta.tenant_of(a_ids[0]) == "acme"


def test_cursors_events_and_keys_are_per_tenant(tenants):
    acme, beta = tenants
    acme.set_cursor(SI, "acme-cursor")
    assert beta.get_cursor(SI) is None
    beta.set_cursor(SI, "beta-cursor")
    assert acme.get_cursor(SI) == "acme-cursor"
    acme.ingest(SI, PAGE, "same-run-id")
    beta.ingest(SI, PAGE[:3], "same-run-id")
    assert acme.run_counts(SI, "same-run-id")["read"] == 10 and beta.run_counts(SI, "same-run-id")["read"] == 3
    [a] = acme.documents(SI, doc_type="order")[:1]
    [b] = beta.documents(SI, doc_type="order")[:1]
    # the key each write carries into the target differs, so one tenant's post is never taken
    # for a retry of the other's
    assert a.idempotency_key != b.idempotency_key


def test_a_ledger_handle_names_its_tenant(tmp_path):
    with pytest.raises(ValueError):
        Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="")
