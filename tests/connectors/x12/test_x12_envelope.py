"""The X12 envelope: separators from the ISA, groups and sets, counts and control numbers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from ml_connector.connectors import x12
from ml_connector.connectors.errors import BadDocument
from ml_connector.connectors.x12 import Segment, Separators

FIXTURES = Path(__file__).parents[2] / "fixtures" / "x12"
ALL = sorted(p.name for p in FIXTURES.glob("*.x12"))
AT = datetime(2024, 1, 15, 10, 30)


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_there_is_a_fixture_for_each_case():
    assert len(ALL) >= 8


@pytest.mark.parametrize("name", ALL)
def test_every_fixture_parses_and_re_encodes_byte_for_byte(name):
    data = load(name)
    assert x12.encode(x12.parse(data)) == data


def test_850_envelope():
    ic = x12.parse(load("850_4010.x12"))
    assert (ic.sender_qualifier, ic.sender_id, ic.receiver_id) == ("ZZ", "RETAILERID", "VENDORID")
    assert (ic.control_number, ic.version, ic.date, ic.time, ic.usage) == (101, "00401", "240115", "1030", "P")
    assert ic.separators == Separators(element="*", component=">", segment="~")
    [group] = ic.groups
    assert (group.functional_id, group.control_number, group.version) == ("PO", 101, "004010")
    [ts] = group.sets
    assert (ts.id, ts.control_number, len(ts.segments)) == ("850", "0001", 11)
    assert ts.segments[0] == Segment(id="BEG", elements=["00", "SA", "PO584616", "", "20240115"])
    assert ts.segments[0].get(3) == "PO584616" and ts.segments[0].get(9) == ""


def test_odd_separators_5010_and_several_groups():
    ic = x12.parse(load("multi_group_odd_separators.x12"))
    assert ic.separators == Separators(element="|", component="^", segment="'", repetition="!")
    assert (ic.version, ic.ack_requested, ic.usage) == ("00501", "1", "T")
    assert [(g.functional_id, g.control_number, [s.control_number for s in g.sets]) for g in ic.groups] == [
        ("PO", 401, ["0001", "0002"]), ("IN", 402, ["0001"])]
    ref = ic.groups[0].sets[0].segments[1]
    assert ref.elements == ["DP", "026", "", ["ZZ", "DEPT26"]]  # REF04 composite split on ISA16
    assert ref.get(4) == "ZZ"


def test_newlines_after_terminators_are_tolerated_and_kept():
    plain, crlf = x12.parse(load("850_4010.x12")), x12.parse(load("850_crlf_newlines.x12"))
    assert crlf.separators.suffix == "\r\n"
    assert crlf.groups[0].sets == plain.groups[0].sets
    assert x12.parse(load("856_sopi.x12")).separators.suffix == "\n"


def test_stray_newlines_bom_and_trailing_blank_lines_are_tolerated():
    data = load("850_4010.x12").replace(b"~REF", b"~\nREF").replace(b"~PO1", b"~\r\n\r\nPO1")
    ic = x12.parse(b"\xef\xbb\xbf\n" + data + b"\r\n\x1a")
    assert ic.groups[0].sets == x12.parse(load("850_4010.x12")).groups[0].sets


def test_trailing_empty_elements_are_dropped_on_read():
    data = load("850_4010.x12").replace(b"REF*DP*026~", b"REF*DP*026**~")
    assert x12.parse(data).groups[0].sets[0].segments[1].elements == ["DP", "026"]


def test_re_encoding_with_other_separators_keeps_the_content():
    ic = x12.parse(load("multi_group_odd_separators.x12"))
    other = ic.model_copy(update={"separators": Separators(element="*", component=":", segment="~", repetition="^",
                                                           suffix="\n")})
    data = x12.encode(other)
    assert data.startswith(b"ISA*00*") and b"REF*DP*026**ZZ:DEPT26~\n" in data
    back = x12.parse(data)
    assert back.groups == ic.groups and back.separators == other.separators


# --- generation ---------------------------------------------------------------------------


def test_wrap_rebuilds_the_850_fixture_exactly():
    ts = x12.parse(load("850_4010.x12")).groups[0].sets[0]
    ic = x12.wrap([ts], sender_id="RETAILERID", receiver_id="VENDORID", control_number=101, at=AT)
    assert x12.encode(ic) == load("850_4010.x12")


def test_wrap_5010_pads_ids_and_computes_every_count():
    source = x12.parse(load("multi_group_odd_separators.x12"))
    sets = [ts for g in source.groups for ts in g.sets]
    ic = x12.wrap(sets, sender_id="AB", receiver_id="123456789", sender_qualifier="01", receiver_qualifier="12",
                  control_number=7, group_control_number=70, version="005010", at=AT, usage="T", ack_requested=True)
    data = x12.encode(ic)
    isa = data[:106].decode()
    assert isa == ("ISA*00*          *00*          *01*AB             *12*123456789      *240115*1030*^*00501*"
                   "000000007*1*T*>~")
    assert b"GS*PO*AB*123456789*20240115*1030*70*X*005010~" in data
    assert b"SE*13*0001~" in data and b"SE*9*0002~" in data and b"GE*2*70~" in data and b"GE*1*71~" in data
    assert data.endswith(b"IEA*2*000000007~")
    assert x12.parse(data) == ic


def test_wrap_checks_version_and_repetition_separator():
    ts = x12.parse(load("850_4010.x12")).groups[0].sets[0]
    with pytest.raises(ValueError, match="repetition"):
        x12.wrap([ts], sender_id="A", receiver_id="B", control_number=1, version="005010", separators=Separators())
    with pytest.raises(ValueError, match="ISA11"):
        x12.wrap([ts], sender_id="A", receiver_id="B", control_number=1, separators=Separators(repetition="^"))
    with pytest.raises(ValueError, match="six digits"):
        x12.wrap([ts], sender_id="A", receiver_id="B", control_number=1, version="4010")


def test_counts_are_never_taken_from_the_model():
    ic = x12.parse(load("850_4010.x12"))
    ic.groups[0].sets[0].segments.append(Segment(id="AMT", elements=["TT", "100"]))
    ic.groups.append(ic.groups[0].model_copy(update={"control_number": 999}))
    data = x12.encode(ic)
    assert b"SE*14*0001~" in data and b"IEA*2*000000101~" in data
    assert len(x12.parse(data).groups) == 2


@pytest.mark.parametrize("value, name", [("A*B", "element"), ("A~B", "segment"), ("A>B", "component")])
def test_encode_refuses_a_value_holding_a_separator(value, name):
    ic = x12.parse(load("850_4010.x12"))
    ic.groups[0].sets[0].segments[1] = Segment(id="REF", elements=["DP", value])
    with pytest.raises(BadDocument) as info:
        x12.encode(ic)
    assert f"REF02 (set 0001 position 3): {value!r} holds the {name} separator" in str(info.value)


def test_encode_refuses_an_isa_id_holding_a_separator():
    ic = x12.parse(load("850_4010.x12")).model_copy(update={"sender_id": "RET*AILER"})
    with pytest.raises(BadDocument, match="ISA06"):
        x12.encode(ic)


# --- malformed interchanges -> one-line BadDocument ---------------------------------------

BASE = "850_4010.x12"
CASES = {
    "wrong SE01": (b"SE*13*0001", b"SE*12*0001", "SE at segment 15: SE01 says 12 segments, set 0001 has 13"),
    "wrong GE01": (b"GE*1*101", b"GE*2*101", "GE at segment 16: GE01 says 2 sets, group 101 has 1"),
    "wrong IEA01": (b"IEA*1*", b"IEA*3*", "IEA at segment 17: IEA01 says 3 groups, the interchange has 1"),
    "SE02 mismatch": (b"SE*13*0001", b"SE*13*0002", "SE02 '0002' does not match ST02 '0001'"),
    "GE02 mismatch": (b"GE*1*101", b"GE*1*102", "GE at segment 16: GE02 102 does not match GS06 101"),
    "IEA02 mismatch": (b"IEA*1*000000101", b"IEA*1*000000109", "IEA02 000000109 does not match ISA13 000000101"),
    "ISA shorter than 106": (b"RETAILERID     *", b"RETAILERID*", "ISA is not 106 fixed-width characters"),
    "ISA13 not digits": (b"*000000101*0*P", b"*00000010A*0*P", "ISA13 control number '00000010A' is not 9 digits"),
    "separator clash": (b"*P*>~", b"*P*~~", "ISA separators are unusable"),
    "missing IEA": (b"IEA*1*000000101~", b"", "missing IEA: the interchange ends at segment 16"),
    "missing GE": (b"GE*1*101~", b"", "missing GE for group 101 (GS at segment 2): found IEA at segment 16"),
    "missing SE": (b"SE*13*0001~", b"", "missing SE for set '0001' (ST at segment 3): found GE at segment 15"),
    "no final terminator": (b"IEA*1*000000101~", b"IEA*1*000000101", "no segment terminator '~' after the last"),
    "data after IEA": (b"IEA*1*000000101~", b"IEA*1*000000101~REF*X~", "segment 18: REF after IEA"),
    "bad segment id": (b"REF*DP", b"rEF*DP", "segment 5: 'rEF' is not a segment id"),
    "empty segment": (b"REF*DP*026~", b"REF*DP*026~~", "segment 6: '' is not a segment id"),
    "SE01 not a number": (b"SE*13*0001", b"SE*1X*0001", "SE at segment 15: SE01 '1X' is not a number"),
    "GS too short": (b"*X*004010~", b"~", "GS at segment 2: 6 elements, expected 8"),
    "stray segment between groups": (b"GE*1*101~", b"GE*1*101~REF*X~", "segment 17: unexpected REF between groups"),
    "bad GS date": (b"*20240115*1030*101", b"*2024011*1030*101", "GS at segment 2: date string should match"),
    "not UTF-8": (b"SPS COMMERCE DC", b"SPS COMMERCE \xff", "not valid UTF-8 at byte"),
    "component separator in GS": (b"GS*PO*RETAILERID", b"GS*PO*RETAIL>ERID", "GS02 'RETAIL>ERID' holds the"),
    "ISA in a set": (b"SE*13*0001~", b"ISA*1~SE*13*0001~", "missing SE for set '0001' (ST at segment 3): found ISA"),
}


@pytest.mark.parametrize("case", CASES)
def test_malformed_interchange_is_a_one_line_bad_document(case):
    old, new, reason = CASES[case]
    data = load(BASE)
    assert old in data
    with pytest.raises(BadDocument) as info:
        x12.parse(data.replace(old, new, 1))
    assert type(info.value) is BadDocument
    assert reason in str(info.value)
    assert "\n" not in str(info.value) and info.value.system == "x12"


def test_duplicate_control_numbers_are_refused():
    data = load("multi_group_odd_separators.x12")
    with pytest.raises(BadDocument, match="set control number 0001 repeats in group 401"):
        x12.parse(data.replace(b"ST|850|0002", b"ST|850|0001").replace(b"SE|9|0002", b"SE|9|0001"))
    with pytest.raises(BadDocument, match="group control number 401 repeats"):
        x12.parse(data.replace(b"|402|X|", b"|401|X|").replace(b"GE|1|402", b"GE|1|401"))


@pytest.mark.parametrize("data, reason", [
    (b"", "empty interchange"),
    (b"   \r\n", "empty interchange"),
    (b"hello world", "does not start with an ISA segment"),
    (b"ISA*00*          *00*", "truncated ISA: 21 bytes, an ISA is 106 characters"),
    (b"\x00\xff" * 200, "does not start with an ISA segment"),
    ("ISA*00", "expected bytes, got str"),
])
def test_garbage_is_a_bad_document(data, reason):
    with pytest.raises(BadDocument) as info:
        x12.parse(data)
    assert reason in str(info.value)


def test_truncated_isa_from_a_real_file():
    with pytest.raises(BadDocument, match="truncated ISA: 105 bytes"):
        x12.parse(load(BASE)[:105])


def test_size_limit():
    with pytest.raises(BadDocument, match="over the 100 byte limit"):
        x12.parse(load(BASE), max_bytes=100)
