"""Sterling models and response classification on the reference's JSON shapes (no HTTP)."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ml_connector.connectors.errors import NotFound, RejectedError, TransientError
from ml_connector.connectors.sterling._wire import check, location_id, sterling_error
from ml_connector.connectors.sterling.auth import admin_reason
from ml_connector.connectors.sterling.models import Mailbox, MailboxEntry, MailboxMessage, TradingPartner, UserAccount

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sterling"


def load(name: str):
    return json.loads((FIXTURES / name).read_text())


def test_message_get_shape_unwraps_code_objects_and_parses_the_offset_timestamp():
    message = MailboxMessage.model_validate(load("mailboxmessage_get.json"))
    assert message.id == "78" and message.mailbox_id == "333" and message.name == "image001.PNG"
    assert message.document_id == "restclient1:node1:170d8cdabf4:17"
    assert message.extractable_always is True and message.extractable
    assert message.creation_date == datetime(2020, 3, 14, 17, 19, 20, tzinfo=UTC)


def test_partner_get_shape_reads_and_the_create_body_writes_plain_values():
    partner = TradingPartner.model_validate(load("tradingpartner_get.json"))
    assert partner.id == "ACME_RETAIL" and partner.authentication_type == "Local"
    assert partner.does_use_ssh is True and partner.is_listening_producer is False
    assert partner.country_or_region == "US"
    body = TradingPartner.model_validate(load("tradingpartner_create.json")).wire()
    assert body == load("tradingpartner_create.json")  # doesUseSSH keeps its odd casing
    assert "_id" not in partner.wire()


def test_mailbox_users_arrive_as_comma_separated_text():
    mailbox = Mailbox.model_validate(load("mailbox_get.json"))
    assert mailbox.id == "333" and mailbox.mailbox_type == "R"
    assert mailbox.users == ["acmeretail01", "mlconnector"] and mailbox.groups == []


def test_mailbox_contents_mix_sub_mailboxes_and_messages():
    entries = [MailboxEntry.model_validate(row) for row in load("mailboxcontents_detail.json")]
    assert [e.is_mailbox for e in entries] == [True, False]
    message = entries[1].as_message(Mailbox(_id="333", path="/ACME_RETAIL/Inbox"))
    assert message.mailbox_path == "/ACME_RETAIL/Inbox" and message.mailbox_id == "333"
    assert message.extractable and message.extractable_count == 1


def test_admin_is_told_by_group_or_builtin_name():
    admin = UserAccount.model_validate(load("useraccount_admin.json"))
    api_user = UserAccount.model_validate(load("useraccount_api_user.json"))
    assert admin.groups == ["Admin"] and "API User" in admin.permissions
    assert "Admin" in admin_reason(admin)
    assert admin_reason(api_user) is None
    assert admin_reason(UserAccount(user_id="ADMIN")) is not None
    assert admin_reason(api_user, admin_groups=("APIUsers",)) is not None  # customers can extend the list


def json_response(status: int, body, ctype: str = "application/json") -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers={"Content-Type": ctype},
                          request=httpx.Request("GET", "https://b2bi.example/B2BAPIs/svc/x/"))


def test_check_types_error_objects_by_status_or_by_their_code():
    with pytest.raises(NotFound) as caught:
        check(json_response(404, load("error_not_found.json")), operation="get_partner")
    assert caught.value.code == "404" and "does not exist" in caught.value.message
    with pytest.raises(NotFound):  # an error object behind a 200 still counts
        check(json_response(200, {"errorCode": 404, "errorDescription": "none"}))
    with pytest.raises(RejectedError):
        check(json_response(200, {"errorCode": "API000160", "errorDescription": "bad"}))
    check(json_response(200, [{"id": 1}]))  # lists and plain bodies pass
    check(httpx.Response(400, text="<html>bad</html>"))  # not JSON: the status table decides


def test_status_table_errors_gain_sterlings_description_and_code():
    raw = RejectedError("HTTP 400 from sterling", system="sterling", operation="create_partner", status=400,
                        body_excerpt='{"errorCode": 400, "errorDescription": "API000151: username must be 5 to 36"}')
    err = sterling_error(raw)
    assert type(err) is RejectedError and err.code == "400" and "username must be 5 to 36" in err.message
    assert pickle.loads(pickle.dumps(err)).code == "400"
    bare = NotFound("HTTP 404 from sterling", body_excerpt="Error 404: SRVE0190E: File not found")
    assert sterling_error(bare) is bare and bare.code is None
    transient = TransientError("HTTP 500",
                               body_excerpt='{"errorCode": 500, "errorDescription": "java.lang.NullPointerException"}')
    assert "NullPointerException" in sterling_error(transient).message


def test_location_id_is_the_last_segment_decoded():
    response = json_response(201, load("document_created.json"))
    assert location_id(response, "create_document") == "restclient1:node1:170d8cdabf4:17"
    encoded = json_response(201, {"Location": "https://h/B2BAPIs/svc/documents/a%3Ab%3Ac%3A1"})
    assert location_id(encoded, "create_document") == "a:b:c:1"
    assert location_id(json_response(200, {}), "x") is None
