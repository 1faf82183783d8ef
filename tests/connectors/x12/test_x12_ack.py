"""997s: built for accepted, accepted-with-errors and rejected inbound interchanges, and read back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from ml_connector.connectors import x12
from ml_connector.connectors.errors import BadDocument
from ml_connector.connectors.x12 import AckResult, Separators

FIXTURES = Path(__file__).parents[2] / "fixtures" / "x12"
AT = datetime(2024, 1, 15, 10, 30)


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def answer(data: bytes, control_number: int, **kwargs) -> bytes:
    ack = x12.acknowledge(x12.parse(data), control_number=control_number, at=AT, **kwargs)
    return x12.encode(ack)


def test_accepted_850_gets_the_accepting_997_fixture():
    assert answer(load("850_4010.x12"), 301) == load("997_accept.x12")


def test_rejected_850_gets_the_rejecting_997_fixture_with_ak3_ak4():
    # The reference's rejection: PO1 at position 10 has a non-numeric quantity, group 102.
    inbound = (load("850_4010.x12").replace(b"PO1*1*5*EA", b"PO1*1*X*EA")
               .replace(b"*1030*101*X*", b"*1030*102*X*").replace(b"GE*1*101~", b"GE*1*102~"))
    data = answer(inbound, 302)
    assert b"AK3*PO1*10**8~AK4*2*330*6*X~AK5*R*5~AK9*R*1*1*0~" in data
    assert data == load("997_reject.x12")


@pytest.mark.parametrize("name, expected", [
    ("997_accept.x12", [AckResult(101, "0001", "accepted", [])]),
    ("997_reject.x12", [AckResult(102, "0001", "rejected", [
        "PO1 at position 10: segment has data element errors; element 2 (330): invalid character in data element 'X'",
        "one or more segments in error"])]),
])
def test_read_997_fixtures(name, expected):
    assert x12.read_997(x12.parse(load(name))) == expected


def test_997_goes_back_to_the_sender_with_swapped_ids():
    ack = x12.acknowledge(x12.parse(load("810_tds.x12")), control_number=55, group_control_number=66, at=AT)
    assert (ack.sender_id, ack.receiver_id, ack.control_number) == ("RETAILERID", "VENDORID", 55)
    [group] = ack.groups
    assert (group.functional_id, group.control_number, group.app_sender, group.app_receiver) == (
        "FA", 66, "RETAILERID", "VENDORID")
    [ts] = group.sets
    assert x12.decode_document(ts).model_dump(exclude_defaults=True) == {
        "functional_id": "IN", "group_control_number": 203, "status": "A", "included": 1, "received": 1,
        "accepted": 1, "responses": [{"set_id": "810", "control_number": "0001", "status": "A"}]}


def test_several_groups_get_one_997_each_in_the_received_syntax():
    data = answer(load("multi_group_odd_separators.x12"), 9)
    assert data.startswith(b"ISA|00|") and b"|!|00501|000000009|0|T|^'" in data
    assert b"ST|997|0001'AK1|PO|401|005010'AK2|850|0001'AK5|A'AK2|850|0002'AK5|A'AK9|A|2|2|2'SE|8|0001'" in data
    assert b"ST|997|0002'AK1|IN|402|005010'AK2|810|0001'AK5|A'AK9|A|1|1|1'SE|6|0002'" in data
    assert x12.read_997(x12.parse(data)) == [
        AckResult(401, "0001", "accepted", []), AckResult(401, "0002", "accepted", []),
        AckResult(402, "0001", "accepted", [])]


def test_partially_accepted_group():
    inbound = load("multi_group_odd_separators.x12").replace(b"PO1|2|1.5|LB", b"PO1|2|1.5.5|LB")
    ack = x12.acknowledge(x12.parse(inbound), control_number=9, at=AT)
    first = x12.decode_document(ack.groups[0].sets[0])
    assert (first.status, first.received, first.accepted) == ("P", 2, 1)
    assert [r.status for r in first.responses] == ["A", "R"]
    results = x12.read_997(x12.parse(x12.encode(ack)))
    assert [(r.group_control_number, r.set_control_number, r.status) for r in results] == [
        (401, "0001", "accepted"), (401, "0002", "rejected"), (402, "0001", "accepted")]
    assert results[1].reasons[0] == ("PO1 at position 7: segment has data element errors; element 2 (330): "
                                     "invalid character in data element '1.5.5'")


def test_unknown_segment_is_accepted_with_errors():
    inbound = load("850_4010.x12").replace(b"PID*F****SAMPLE DESCRIPTION1~", b"ZZZ*1~")
    data = answer(inbound, 303)
    assert b"AK2*850*0001~AK3*ZZZ*11**2~AK5*E*5~AK9*E*1*1*1~" in data
    assert x12.read_997(x12.parse(data)) == [AckResult(101, "0001", "accepted_with_errors", [
        "ZZZ at position 11: unexpected segment", "one or more segments in error"])]


def test_missing_mandatory_segment_has_an_ak3_without_ak4():
    inbound = load("810_tds.x12").replace(b"TDS*10000~", b"").replace(b"SE*12*0001", b"SE*11*0001")
    data = answer(inbound, 304)
    assert b"AK2*810*0001~AK3*TDS*11**3~AK5*R*5~AK9*R*1*1*0~" in data


def test_unsupported_set_is_rejected_as_not_supported():
    inbound = (load("850_4010.x12").replace(b"GS*PO*", b"GS*OW*").replace(b"ST*850*", b"ST*940*"))
    data = answer(inbound, 305)
    assert b"AK1*OW*101~AK2*940*0001~AK5*R*1~AK9*R*1*1*0~" in data
    assert x12.read_997(x12.parse(data))[0].reasons == ["transaction set not supported"]


def test_bad_value_copied_into_ak404_loses_the_997_separators():
    # '*' is plain data in a '|' interchange but would break a '*' 997.
    inbound = load("multi_group_odd_separators.x12").replace(b"PO1|2|1.5|LB", b"PO1|2|1*5|LB")
    ack = x12.acknowledge(x12.parse(inbound), control_number=9, at=AT, separators=Separators(repetition="^"))
    data = x12.encode(ack)
    assert b"AK3*PO1*7**8~AK4*2*330*6*15~" in data


def test_997s_are_not_acknowledged():
    assert x12.acknowledge(x12.parse(load("997_accept.x12")), control_number=1) is None


def test_group_level_997_without_set_detail():
    data = load("997_accept.x12").replace(b"AK2*850*0001~AK5*A~", b"").replace(b"AK9*A*1*1*1", b"AK9*R*1*1*0*5")
    data = data.replace(b"SE*6*0001", b"SE*4*0001")
    assert x12.read_997(x12.parse(data)) == [
        AckResult(101, None, "rejected", ["number of included transaction sets does not match actual count"])]


def test_read_997_refuses_an_interchange_without_one():
    with pytest.raises(BadDocument, match="interchange 000000101 holds no 997"):
        x12.read_997(x12.parse(load("850_4010.x12")))


def test_read_997_refuses_a_broken_997():
    data = load("997_accept.x12").replace(b"AK9*A*1*1*1", b"AK9*A*1*X*1")
    with pytest.raises(BadDocument, match=r"997 set 0001, AK9 at position 5: AK903 'X' is not an integer"):
        x12.read_997(x12.parse(data))
