"""The mailbox's tasks on the Sterling emulator and a SQLite ledger, without a flow: a partner's
Outbox read (a download still failing deferred, the rest read), messages marked extracted (a
PUT still refused deferred and counted, the rest extracted), and 997s applied (a message
without a readable 997 quarantined; a 997 applied again changes nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ml_connector.connectors import x12
from ml_connector.connectors._http import RetryPolicy
from ml_connector.connectors.errors import RateLimited, TransientError
from ml_connector.connectors.sterling import SterlingClient, SterlingConfig, partner_outbox
from ml_connector.ledger.schema import POSTED, QUARANTINED
from ml_connector.ledger.store import Incoming, Ledger
from ml_connector.ledger.x12_controls import ack_counts, assign_controls, mark_delivered
from ml_connector.mappings.intacct_sterling import record_row, x12_document, x12_message
from ml_connector.mappings.tenant import load_tenant
from ml_connector.runtime.tenant import Tenant
from ml_connector.sandbox.sterling import SterlingEmulator
from ml_connector.tasks import sterling_mailbox as tasks

MAPPING = load_tenant(Path(__file__).parents[2] / "tenants" / "demo.yaml")
PO = {"RECORDNO": "77", "DOCNO": "PO-1", "VENDORID": "V-ACMEDI", "WHENCREATED": "10/02/2026",
      "PODOCUMENTENTRIES": [{"ITEMID": "WID-100", "QUANTITY": "3", "PRICE": "4.25"}]}


@pytest.fixture()
def res(tmp_path, monkeypatch):
    emulator = SterlingEmulator()
    emulator.add_partner("ACME_DIST")
    client = SterlingClient(SterlingConfig(**emulator.credentials()), http=httpx.Client(transport=emulator.transport()),
                            policy=RetryPolicy(sleep=lambda _: None))
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", tenant="t")
    tenant = Tenant(name="t", mapping=MAPPING, ledger=ledger, _clients={"sterling": client})
    tenant.emulator = emulator
    monkeypatch.setattr(tasks, "tenant_resources", lambda name: tenant)
    yield tenant
    ledger.dispose()


def delivered_850(res) -> bytes:
    """Our 850 for ACME_DIST, recorded and delivered as the outbound flow would."""
    [doc_id] = res.ledger.ingest("intacct-sterling", [record_row("850", PO, MAPPING.sterling)], "out").new_ids
    controls = assign_controls(res.ledger, doc_id, "ACME_DIST", "850", "PO-1")
    vendor, doc = x12_document("850", json.dumps(PO).encode())
    _, content = x12_message("850", "PO-1", vendor, doc, MAPPING.sterling, interchange=controls.interchange,
                             group=controls.group, set_control=controls.set_control)
    mark_delivered(res.ledger, [(doc_id, "M-1")])
    return content


def test_an_outbox_is_read_whole_but_a_download_that_keeps_failing_waits_for_the_next_poll(res, monkeypatch):
    first = res.emulator.put_message(partner_outbox("ACME_DIST"), "a.x12", b"ISA-a", extractable_always=True)
    res.emulator.put_message(partner_outbox("ACME_DIST"), "b.x12", b"ISA-b", extractable_always=True)
    client = res.sterling()
    real = client.download_message

    def download(message):
        if str(message.id) == str(first):
            raise TransientError("503 after every retry", system="sterling", operation="download")
        return real(message)

    monkeypatch.setattr(client, "download_message", download)
    outbox = tasks.read_outbox.fn("t", "ACME_DIST")
    assert outbox.deferred == 1
    assert [(m.name, m.content, m.error) for m in outbox.messages] == [("b.x12", b"ISA-b", None)]
    assert tasks.read_outbox.fn("t", "NOBODY") == tasks.Outbox(partner="NOBODY")  # no partner yet: nothing to read


def test_a_put_still_refused_defers_its_message_and_the_others_are_extracted(res, monkeypatch):
    ids = [str(res.emulator.put_message(partner_outbox("ACME_DIST"), f"{n}.x12", b"ISA")) for n in range(3)]
    client = res.sterling()
    real = client.mark_extracted

    def limited(message_id):
        if message_id == ids[1]:
            raise RateLimited("429 after every retry", system="sterling", operation="ack_message", retry_after=60)
        return real(message_id)

    monkeypatch.setattr(client, "mark_extracted", limited)
    assert tasks.mark_extracted.fn("t", ids) == {"messages_deferred": 1}
    left = [m.id for m in client.list_messages(partner_outbox("ACME_DIST"), only_extractable=True)]
    assert [str(i) for i in left] == [ids[1]]


def test_997s_settle_our_documents_once_and_a_message_without_one_is_quarantined(res):
    ours = x12.parse(delivered_850(res))
    ack = x12.encode(x12.acknowledge(ours, control_number=5))
    rows = [Incoming("997", "ACME_DIST", "ACMEDIST0001:000000005", "ref-ack", ack),
            Incoming("997", "ACME_DIST", "ACMEDIST0001:000000006", "ref-junk", b"not an interchange")]
    ids = res.ledger.ingest(tasks.INBOUND, rows, "in").new_ids
    counts = tasks.apply_acks.fn("t", ids, "in")
    assert (counts[POSTED], counts[QUARANTINED]) == (1, 1)
    assert (counts["acks_applied"], counts["accepted"], counts["rejected"]) == (1, 1, 0)
    assert ack_counts(res.ledger)["accepted"] == 1
    [applied] = res.ledger.documents(tasks.INBOUND, status=POSTED)
    assert applied.target_id == "matched 1"
    # the same verdict again (the partner resent its 997): the accepted document stays accepted, once
    resent = x12.encode(x12.acknowledge(ours, control_number=7))
    ids = res.ledger.ingest(tasks.INBOUND, [Incoming("997", "ACME_DIST", "ACMEDIST0001:000000007", "ref", resent)],
                            "in").new_ids
    again = tasks.apply_acks.fn("t", ids, "in")
    assert again[POSTED] == 1 and ack_counts(res.ledger)["accepted"] == 1
