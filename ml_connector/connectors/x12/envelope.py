"""The X12 envelope: bytes <-> Interchange (ISA/GS/ST ... SE/GE/IEA).

    parse_interchange(data, max_bytes=)   -> Interchange     raises BadDocument only
    encode_interchange(interchange)       -> bytes           SE01/GE01/IEA01 computed here
    wrap(sets, sender_id=, receiver_id=, control_number=, ...) -> Interchange

The delimiters come from the ISA itself, which is fixed width (106 characters with its
terminator): the element separator is its 4th character, ISA11 the repetition separator from
4020 on (``U`` before), ISA16 the component separator and the character after it the segment
terminator. Newlines after terminators are tolerated and remembered, so a file re-encodes as
it came. Every way an interchange can be wrong becomes one :class:`BadDocument` with a one-line
reason naming the segment and its position (ISA = segment 1), because the caller quarantines
the file and shows that reason to an operator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, ValidationError

from ..errors import BadDocument
from .models import FUNCTIONAL_IDS, FunctionalGroup, Interchange, Separators, TransactionSet

ISA_LENGTH = 106
# ISA01..ISA15 widths; ISA16 (1 char) is followed by the terminator at offset 105.
_ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1)
_ISA_SEPARATOR_AT = [3]
for _width in _ISA_WIDTHS:
    _ISA_SEPARATOR_AT.append(_ISA_SEPARATOR_AT[-1] + _width + 1)
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_DIGITS = re.compile(r"[0-9]{1,9}")
_BOM = b"\xef\xbb\xbf"

Raw = tuple[int, list[str]]  # (segment number in the interchange, [id, element01, ...])


def _bad(reason: str, operation: str = "parse") -> BadDocument:
    return BadDocument(" ".join(reason.split())[:400], system="x12", operation=operation)


# --- parse --------------------------------------------------------------------------------


def parse_interchange(data: bytes, *, max_bytes: int = 10_000_000) -> Interchange:
    """The one interchange in ``data``; raises :class:`BadDocument` with a one-line reason only."""
    try:
        return _parse(data, max_bytes)
    except BadDocument:
        raise
    except RecursionError:
        raise _bad("interchange nests too deeply") from None
    except Exception as exc:  # the contract is BadDocument only; say what broke, in one line
        raise _bad(f"unreadable interchange ({type(exc).__name__}: {exc})") from None


def _parse(data: bytes, max_bytes: int) -> Interchange:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise _bad(f"expected bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise _bad(f"interchange is {len(data):,} bytes, over the {max_bytes:,} byte limit")
    body = bytes(data).removeprefix(_BOM).lstrip(b" \t\r\n")
    if not body:
        raise _bad("empty interchange")
    if not body.startswith(b"ISA"):
        raise _bad(f"does not start with an ISA segment (starts with {body[:10]!r})")
    fields, separators = _read_isa(body)
    try:
        text = body[ISA_LENGTH:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(f"not valid UTF-8 at byte {ISA_LENGTH + exc.start} after the ISA") from None
    suffix = text[: len(text) - len(text.lstrip("\r\n"))]
    if suffix in ("\n", "\r\n") and separators.segment not in "\r\n":
        separators = separators.model_copy(update={"suffix": suffix})
    return _assemble(fields, separators, _split(text, separators))


def _read_isa(body: bytes) -> tuple[list[str], Separators]:
    """ISA01..ISA16 and the separators, after checking the fixed-width layout."""
    if len(body) < ISA_LENGTH:
        raise _bad(f"truncated ISA: {len(body)} bytes, an ISA is {ISA_LENGTH} characters")
    head = body[:ISA_LENGTH]
    if not head.isascii():
        raise _bad("ISA holds non-ASCII bytes")
    isa = head.decode("ascii")
    element = isa[3]
    for number, offset in enumerate(_ISA_SEPARATOR_AT[1:], 1):
        if isa[offset] != element:
            raise _bad(f"ISA is not {ISA_LENGTH} fixed-width characters: expected {element!r} at "
                       f"character {offset + 1}, after ISA{number:02d}")
    fields = isa[4:103].split(element) + [isa[104]]
    if len(fields) != 16:
        raise _bad(f"ISA has {len(fields)} elements, expected 16 (element separator {element!r} inside a value?)")
    repetition = None if fields[10].isalnum() or fields[10] == " " else fields[10]
    try:
        separators = Separators(element=element, component=fields[15], segment=isa[105], repetition=repetition)
    except ValidationError as exc:
        raise _bad(f"ISA separators are unusable: {exc.errors()[0]['msg']}") from None
    if not _DIGITS.fullmatch(fields[12]) or len(fields[12]) != 9:
        raise _bad(f"ISA13 control number {fields[12]!r} is not 9 digits")
    for number, value in enumerate(fields[:15], 1):
        if number != 11 and (separators.component in value or separators.segment in value):
            raise _bad(f"ISA{number:02d} {value!r} holds the component separator or segment terminator")
    return fields, separators


def _split(text: str, seps: Separators) -> list[Raw]:
    """Every segment after the ISA as (number, [id, elements...]); newlines between tolerated."""
    pieces = text.split(seps.segment)
    if pieces[-1].strip(" \t\r\n\x1a"):  # \x1a: DOS end-of-file marker some mailboxes append
        raise _bad(f"no segment terminator {seps.segment!r} after the last segment ({pieces[-1][:20]!r})")
    segments: list[Raw] = []
    for number, piece in enumerate(pieces[:-1], 2):
        fields = piece.lstrip("\r\n").split(seps.element)
        if not _SEGMENT_ID.fullmatch(fields[0]):
            raise _bad(f"segment {number}: {fields[0][:10]!r} is not a segment id")
        while len(fields) > 1 and not fields[-1]:  # trailing empty elements say nothing: drop them
            fields.pop()
        segments.append((number, fields))
    return segments


def _plain(raw: Raw, seps: Separators) -> None:
    """Envelope elements are simple: a component separator in one is a syntax error."""
    number, fields = raw
    for n, value in enumerate(fields[1:], 1):
        if seps.component in value:
            raise _bad(f"{fields[0]} at segment {number}: {fields[0]}{n:02d} {value[:20]!r} holds the component "
                       f"separator {seps.component!r}")


def _model(cls: type[BaseModel], data: dict, where: str):
    """Validate one envelope model, turning pydantic's report into a one-line reason."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        raise _bad(f"{where}: {field} {first['msg'].lower()} (got {str(first.get('input'))[:30]!r})") from None


def _number(raw: Raw, n: int, name: str) -> int:
    number, fields = raw
    value = fields[n] if n < len(fields) else ""
    if not _DIGITS.fullmatch(value):
        raise _bad(f"{fields[0]} at segment {number}: {name} {value[:20]!r} is not a number")
    return int(value)


def _assemble(isa: list[str], seps: Separators, raws: list[Raw]) -> Interchange:
    control = int(isa[12])
    groups: list[FunctionalGroup] = []
    seen: set[int] = set()
    i = 0
    while i < len(raws) and raws[i][1][0] == "GS":
        start = raws[i][0]
        group, i = _read_group(raws, i, seps)
        if group.control_number in seen:
            raise _bad(f"GS at segment {start}: group control number {group.control_number} repeats")
        seen.add(group.control_number)
        groups.append(group)
    if i >= len(raws):
        last = raws[-1][0] if raws else 1
        raise _bad(f"missing IEA: the interchange ends at segment {last}")
    number, fields = raws[i]
    if fields[0] != "IEA":
        raise _bad(f"segment {number}: unexpected {fields[0]} between groups (expected GS or IEA)")
    if _number(raws[i], 1, "IEA01") != len(groups):
        raise _bad(f"IEA at segment {number}: IEA01 says {fields[1]} groups, the interchange has {len(groups)}")
    if _number(raws[i], 2, "IEA02") != control:
        raise _bad(f"IEA at segment {number}: IEA02 {fields[2]} does not match ISA13 {isa[12]}")
    if i + 1 < len(raws):
        raise _bad(f"segment {raws[i + 1][0]}: {raws[i + 1][1][0]} after IEA")
    header = dict(
        auth_qualifier=isa[0].rstrip(), auth_info=isa[1].rstrip(), security_qualifier=isa[2].rstrip(),
        security_info=isa[3].rstrip(), sender_qualifier=isa[4].rstrip(), sender_id=isa[5].rstrip(),
        receiver_qualifier=isa[6].rstrip(), receiver_id=isa[7].rstrip(), date=isa[8], time=isa[9],
        version=isa[11], control_number=control, ack_requested=isa[13], usage=isa[14],
    )
    return _model(Interchange, {**header, "separators": seps, "groups": groups}, "ISA at segment 1")


def _read_group(raws: list[Raw], i: int, seps: Separators) -> tuple[FunctionalGroup, int]:
    start, gs = raws[i]
    _plain(raws[i], seps)
    if len(gs) < 9:
        raise _bad(f"GS at segment {start}: {len(gs) - 1} elements, expected 8")
    control = _number(raws[i], 6, "GS06")
    sets: list[TransactionSet] = []
    seen: set[str] = set()
    i += 1
    while i < len(raws) and raws[i][1][0] == "ST":
        st_at = raws[i][0]
        ts, i = _read_set(raws, i, seps)
        if ts.control_number in seen:
            raise _bad(f"ST at segment {st_at}: set control number {ts.control_number} repeats in group {control}")
        seen.add(ts.control_number)
        sets.append(ts)
    if i >= len(raws) or raws[i][1][0] != "GE":
        found = f"{raws[i][1][0]} at segment {raws[i][0]}" if i < len(raws) else "the end"
        raise _bad(f"missing GE for group {control} (GS at segment {start}): found {found}")
    number, ge = raws[i]
    if _number(raws[i], 1, "GE01") != len(sets):
        raise _bad(f"GE at segment {number}: GE01 says {ge[1]} sets, group {control} has {len(sets)}")
    if _number(raws[i], 2, "GE02") != control:
        raise _bad(f"GE at segment {number}: GE02 {ge[2]} does not match GS06 {gs[6]}")
    data = dict(functional_id=gs[1], app_sender=gs[2], app_receiver=gs[3], date=gs[4], time=gs[5],
                control_number=control, agency=gs[7], version=gs[8], sets=sets)
    return _model(FunctionalGroup, data, f"GS at segment {start}"), i + 1


def _read_set(raws: list[Raw], i: int, seps: Separators) -> tuple[TransactionSet, int]:
    start, st = raws[i]
    _plain(raws[i], seps)
    if len(st) < 3:
        raise _bad(f"ST at segment {start}: missing ST02 control number")
    # Plain dicts, validated with the set in one pydantic call: faster than a model per segment.
    body: list[dict] = []
    i += 1
    while i < len(raws) and raws[i][1][0] not in ("SE", "ST", "GE", "GS", "IEA", "ISA"):
        fields = raws[i][1]
        body.append({"id": fields[0], "elements": [_element(f, seps) for f in fields[1:]]})
        i += 1
    if i >= len(raws) or raws[i][1][0] != "SE":
        found = f"{raws[i][1][0]} at segment {raws[i][0]}" if i < len(raws) else "the end"
        raise _bad(f"missing SE for set {st[2][:9]!r} (ST at segment {start}): found {found}")
    number, se = raws[i]
    if _number(raws[i], 1, "SE01") != len(body) + 2:
        raise _bad(f"SE at segment {number}: SE01 says {se[1]} segments, set {st[2]} has {len(body) + 2}")
    if len(se) < 3 or se[2] != st[2]:
        raise _bad(f"SE at segment {number}: SE02 {(se[2] if len(se) > 2 else '')!r} does not match ST02 {st[2]!r}")
    data = dict(id=st[1], control_number=st[2], implementation=(st[3] or None) if len(st) > 3 else None,
                segments=body)
    return _model(TransactionSet, data, f"ST at segment {start}"), i + 1


def _element(value: str, seps: Separators) -> str | list[str]:
    """A composite split into components, trailing empty ones dropped; one left is a simple value."""
    if seps.component not in value:
        return value
    parts = value.split(seps.component)
    while len(parts) > 1 and not parts[-1]:
        parts.pop()
    return parts if len(parts) > 1 else parts[0]


# --- encode -------------------------------------------------------------------------------


def encode_interchange(interchange: Interchange) -> bytes:
    """The interchange as bytes, with SE01, GE01 and IEA01 counted and ISA fields padded.

    Raises :class:`BadDocument` when a value holds one of the interchange's separators (X12
    has no escaping, so such a value cannot be sent; map it differently or pick separators).
    """
    ic, seps = interchange, interchange.separators
    out = [_isa(ic)]
    for group in ic.groups:
        out.append(_join("GS", [group.functional_id, group.app_sender, group.app_receiver, group.date,
                                group.time, str(group.control_number), group.agency, group.version], seps))
        for ts in group.sets:
            out.append(_join("ST", [ts.id, ts.control_number, ts.implementation or ""], seps))
            for position, segment in enumerate(ts.segments, 2):
                out.append(_join(segment.id, segment.elements, seps, f"set {ts.control_number} position {position}"))
            out.append(_join("SE", [str(len(ts.segments) + 2), ts.control_number], seps))
        out.append(_join("GE", [str(len(group.sets)), str(group.control_number)], seps))
    out.append(_join("IEA", [str(len(ic.groups)), f"{ic.control_number:09d}"], seps))
    end = seps.segment + seps.suffix
    return (end.join(out) + end).encode("utf-8")


def _isa(ic: Interchange) -> str:
    seps = ic.separators
    values = [ic.auth_qualifier, ic.auth_info, ic.security_qualifier, ic.security_info, ic.sender_qualifier,
              ic.sender_id, ic.receiver_qualifier, ic.receiver_id, ic.date, ic.time, seps.repetition or "U",
              ic.version, f"{ic.control_number:09d}", ic.ack_requested, ic.usage]
    padded = []
    for number, (value, width) in enumerate(zip(values, _ISA_WIDTHS, strict=True), 1):
        if len(value) > width or (number != 11 and _holds_separator(value, seps)):
            raise _bad(f"cannot encode ISA{number:02d} {value!r}: wider than {width} or holds a separator", "encode")
        padded.append(value.ljust(width))
    return seps.element.join(["ISA", *padded, seps.component])


def _holds_separator(value: str, seps: Separators) -> str | None:
    for name in ("element", "component", "segment"):
        if getattr(seps, name) in value:
            return name
    return None


def _join(seg_id: str, elements: Iterable[str | list[str]], seps: Separators, where: str = "") -> str:
    """One segment as text; trailing empty elements are dropped, as X12 requires."""
    texts = []
    for n, element in enumerate(elements, 1):
        parts = element if isinstance(element, list) else [element]
        for part in parts:
            name = _holds_separator(part, seps)
            if name:
                place = f" ({where})" if where else ""
                raise _bad(f"cannot encode {seg_id}{n:02d}{place}: {part[:30]!r} holds the {name} "
                           f"separator {getattr(seps, name)!r}", "encode")
        texts.append(seps.component.join(parts).rstrip(seps.component))
    while texts and not texts[-1]:
        texts.pop()
    return seps.element.join([seg_id, *texts])


# --- build --------------------------------------------------------------------------------


def wrap(
    sets: Iterable[TransactionSet],
    *,
    sender_id: str,
    receiver_id: str,
    control_number: int,
    group_control_number: int | None = None,
    sender_qualifier: str = "ZZ",
    receiver_qualifier: str = "ZZ",
    app_sender: str | None = None,
    app_receiver: str | None = None,
    version: str = "004010",
    separators: Separators | None = None,
    at: datetime | None = None,
    usage: str = "P",
    ack_requested: bool = False,
) -> Interchange:
    """Envelope ``sets`` in one interchange, one GS group per functional id in first-seen order.

    The caller owns the control numbers (it persists them per partner): ISA13 is
    ``control_number``; GS06 is ``group_control_number`` (default: the same) plus 0, 1, ... per
    group. ``version`` is GS08, ``004010`` or ``005010``; ISA12 is derived from it, and from
    4020 on ISA11 carries the repetition separator (``^`` unless ``separators`` say otherwise).
    """
    at = at or datetime.now(UTC)
    first_gs = control_number if group_control_number is None else group_control_number
    groups = [
        FunctionalGroup(functional_id=fid, app_sender=app_sender or sender_id, app_receiver=app_receiver or receiver_id,
                        date=at.strftime("%Y%m%d"), time=at.strftime("%H%M"), control_number=first_gs + k,
                        version=version, sets=group_sets)
        for k, (fid, group_sets) in enumerate(_by_functional_id(sets).items())
    ]
    return Interchange(sender_qualifier=sender_qualifier, sender_id=sender_id, receiver_qualifier=receiver_qualifier,
                       receiver_id=receiver_id, date=at.strftime("%y%m%d"), time=at.strftime("%H%M"),
                       version=version[:5], control_number=control_number, ack_requested="1" if ack_requested else "0",
                       usage=usage, separators=_separators_for(version, separators), groups=groups)


def _by_functional_id(sets: Iterable[TransactionSet]) -> dict[str, list[TransactionSet]]:
    by_id: dict[str, list[TransactionSet]] = {}
    for ts in sets:
        if ts.id not in FUNCTIONAL_IDS:
            raise ValueError(f"no functional id known for transaction set {ts.id}")
        by_id.setdefault(FUNCTIONAL_IDS[ts.id], []).append(ts)
    return by_id


def _separators_for(version: str, separators: Separators | None) -> Separators:
    """ISA11 is the standards id ``U`` up to 4010 and the repetition separator from 4020 on."""
    if not re.match(r"[0-9]{6}", version):
        raise ValueError(f"version must start with six digits such as 004010 or 005010, got {version!r}")
    repeats = version[:6] >= "004020"
    if separators is None:
        return Separators(repetition="^") if repeats else Separators()
    if repeats and separators.repetition is None:
        raise ValueError(f"version {version} needs a repetition separator (ISA11)")
    if not repeats and separators.repetition is not None:
        raise ValueError(f"version {version} has no repetition separator: ISA11 is the standards id U")
    return separators
