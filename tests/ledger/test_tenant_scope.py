"""Two tenants on one ledger with the same partner ids and document numbers: nothing of one is
read, skipped, claimed, requeued, counted or reported as the other's."""

from __future__ import annotations

import pytest

from ml_connector.ledger.schema import FAILED, POSTED, RECEIVED
from ml_connector.ledger.store import Incoming, Ledger, Outcome

I = "sps-intacct"
PAGE = [Incoming("order", "WALMART", f"PO-{n}", f"out/PO-{n}.xml", b"<Order/>") for n in range(10)]


@pytest.fixture()
def tenants(tmp_path):
    acme = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", tenant="acme")
    yield acme, acme.for_tenant("beta")
    acme.dispose()


def test_the_same_document_numbers_are_new_for_each_tenant(tenants):
    acme, beta = tenants
    assert len(acme.ingest(I, PAGE, "run-a").new_ids) == 10
    second = beta.ingest(I, PAGE, "run-b")
    assert len(second.new_ids) == 10 and second.duplicates == 0
    assert acme.status_counts(I) == {RECEIVED: 10} and beta.status_counts(I) == {RECEIVED: 10}


def test_a_tenant_cannot_claim_requeue_or_read_the_others_documents(tenants):
    acme, beta = tenants
    a_ids = acme.ingest(I, PAGE, "run-a").new_ids
    beta.ingest(I, PAGE, "run-b")
    assert beta.claim(I, a_ids, "run-b") == []
    assert beta.documents(I, ids=a_ids) == []
    claimed = acme.claim(I, a_ids, "run-a")
    acme.record_outcomes(I, [Outcome(c.id, FAILED, error_class="rejected", error="bad vendor") for c in claimed], "run-a")
    assert beta.requeue(I, a_ids, "run-b") == 0
    beta.record_outcomes(I, [Outcome(i, POSTED, target_id="x") for i in a_ids], "run-b")  # ids not beta's: no effect
    assert acme.status_counts(I) == {FAILED: 10}
    assert beta.pending_ids(I) != a_ids and len(beta.pending_ids(I)) == 10
    assert beta.tenant_of(a_ids[0]) == "acme"


def test_cursors_events_and_keys_are_per_tenant(tenants):
    acme, beta = tenants
    acme.set_cursor(I, "acme-cursor")
    assert beta.get_cursor(I) is None
    beta.set_cursor(I, "beta-cursor")
    assert acme.get_cursor(I) == "acme-cursor"
    acme.ingest(I, PAGE, "same-run-id")
    beta.ingest(I, PAGE[:3], "same-run-id")
    assert acme.run_counts(I, "same-run-id")["read"] == 10 and beta.run_counts(I, "same-run-id")["read"] == 3
    [a] = acme.documents(I, doc_type="order")[:1]
    [b] = beta.documents(I, doc_type="order")[:1]
    # the key each write carries into the target differs, so one tenant's post is never taken
    # for a retry of the other's
    assert a.idempotency_key != b.idempotency_key


def test_a_ledger_handle_names_its_tenant(tmp_path):
    with pytest.raises(ValueError):
        Ledger(f"sqlite:///{tmp_path / 'l.db'}", tenant="")
