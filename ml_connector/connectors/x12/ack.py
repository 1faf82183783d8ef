"""997 functional acknowledgments: build one for a received interchange, read one back.

    acknowledge(received, control_number=, ...) -> Interchange | None   one 997 per group
    acknowledge_group(group)                     -> FunctionalAck997
    check_set(ts)                                -> SetResponse          AK2/AK3/AK4/AK5 of one set
    read_997(interchange)                        -> [AckResult(group, set, status, reasons)]

A set is accepted (A) when it decodes, accepted with errors (E) when it decodes but carries
segments its standard does not define, and rejected (R) when it cannot be decoded or is a set
we do not support; the AK3/AK4 say where. Envelope faults (wrong SE01, GE01, IEA01, control
numbers) never reach here: the parser rejects the whole file, which is quarantined unread.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal, NamedTuple, cast

from ..errors import BadDocument
from .documents import SUPPORTED, SetError, decode_document, encode_document, unexpected_segments
from .envelope import wrap
from .models import (
    ElementNote,
    FunctionalAck997,
    FunctionalGroup,
    Interchange,
    SegmentNote,
    Separators,
    SetResponse,
    TransactionSet,
)

Status = Literal["accepted", "accepted_with_errors", "partially_accepted", "rejected"]

_MAX_NOTES = 20  # a set with hundreds of stray segments still gets a readable 997
_STATUS: dict[str, Status] = {"A": "accepted", "E": "accepted_with_errors", "P": "partially_accepted",
                              "R": "rejected", "M": "rejected", "W": "rejected", "X": "rejected"}
_AK304 = {"1": "unrecognized segment ID", "2": "unexpected segment", "3": "mandatory segment missing",
          "4": "loop occurs over maximum times", "5": "segment exceeds maximum use",
          "6": "segment not in defined transaction set", "7": "segment not in proper sequence",
          "8": "segment has data element errors"}
_AK403 = {"1": "mandatory data element missing", "2": "conditional required data element missing",
          "3": "too many data elements", "4": "data element too short", "5": "data element too long",
          "6": "invalid character in data element", "7": "invalid code value", "8": "invalid date",
          "9": "invalid time", "10": "exclusion condition violated"}
_AK5 = {"1": "transaction set not supported", "2": "transaction set trailer missing",
        "3": "transaction set control number in header and trailer do not match",
        "4": "number of included segments does not match actual count", "5": "one or more segments in error",
        "6": "missing or invalid transaction set identifier", "7": "missing or invalid transaction set control number"}
_AK9 = {"1": "functional group not supported", "2": "functional group version not supported",
        "3": "functional group trailer missing", "4": "group control number in header and trailer do not agree",
        "5": "number of included transaction sets does not match actual count",
        "6": "group control number violates syntax"}


class AckResult(NamedTuple):
    """One verdict of a 997: a set's (from its AK2/AK5), or a whole group's (AK9, no AK2)."""

    group_control_number: int
    set_control_number: str | None  # None: the AK9 verdict on a group acknowledged without AK2 detail
    status: Status
    reasons: list[str]


# --- build --------------------------------------------------------------------------------


def check_set(ts: TransactionSet, separators: Separators | None = None) -> SetResponse:
    """The AK2..AK5 verdict on one received set (``separators``: those of the 997 to be sent)."""
    if ts.id not in SUPPORTED:
        return SetResponse(set_id=ts.id, control_number=ts.control_number, status="R", codes=["1"])
    try:
        decode_document(ts)
    except SetError as err:
        return SetResponse(set_id=ts.id, control_number=ts.control_number, status="R", codes=["5"],
                           errors=[_note(err, separators or Separators())])
    stray = unexpected_segments(ts)
    if stray:
        notes = [SegmentNote(segment_id=seg_id, position=pos, code="2") for pos, seg_id in stray[:_MAX_NOTES]]
        return SetResponse(set_id=ts.id, control_number=ts.control_number, status="E", codes=["5"], errors=notes)
    return SetResponse(set_id=ts.id, control_number=ts.control_number, status="A")


def _note(err: SetError, seps: Separators) -> SegmentNote:
    elements = []
    if err.element and err.element_code:
        # AK404 copies the bad value; drop characters that would break the 997's own syntax.
        unsafe = {seps.element, seps.component, seps.segment, seps.repetition, "\r", "\n"}
        bad = "".join(c for c in (err.bad_value or "") if c not in unsafe)[:99] or None
        elements.append(ElementNote(position=err.element, reference=err.reference, code=err.element_code,
                                    bad_value=bad))
    return SegmentNote(segment_id=err.segment_id, position=err.position, code=err.segment_code, elements=elements)


def acknowledge_group(group: FunctionalGroup, separators: Separators | None = None) -> FunctionalAck997:
    """The 997 for one received functional group: an AK2..AK5 per set and the AK9 tally."""
    responses = [check_set(ts, separators) for ts in group.sets]
    accepted = sum(r.status in ("A", "E") for r in responses)
    if accepted == len(responses):
        status = "E" if any(r.status == "E" for r in responses) else "A"
    else:
        status = "R" if accepted == 0 else "P"
    return FunctionalAck997(
        functional_id=group.functional_id, group_control_number=group.control_number,
        version=group.version if group.version >= "005010" else None,  # AK103 exists from 5010 on
        responses=responses, status=status, included=len(group.sets), received=len(group.sets), accepted=accepted,
    )


def acknowledge(
    received: Interchange,
    *,
    control_number: int,
    group_control_number: int | None = None,
    at: datetime | None = None,
    separators: Separators | None = None,
) -> Interchange | None:
    """The 997 interchange answering ``received``: one FA group, one 997 set per received group.

    Sender and receiver are swapped; version and separators follow the received interchange
    unless ``separators`` is given. ``control_number`` (ISA13) and ``group_control_number``
    (GS06, default the same) are the caller's, persisted per partner. Groups of 997s are never
    acknowledged, so an interchange holding only those gets None.
    """
    groups = [g for g in received.groups if g.functional_id != "FA"]
    if not groups:
        return None
    # The 997 speaks the version of what it answers; a version we cannot read falls back to 4010.
    version = groups[0].version if re.match(r"[0-9]{6}", groups[0].version) else "004010"
    seps = _fit(separators or received.separators, version)
    sets = [encode_document(acknowledge_group(g, seps), f"{k:04d}") for k, g in enumerate(groups, 1)]
    return wrap(
        sets, sender_id=received.receiver_id, receiver_id=received.sender_id,
        sender_qualifier=received.receiver_qualifier, receiver_qualifier=received.sender_qualifier,
        app_sender=groups[0].app_receiver, app_receiver=groups[0].app_sender, control_number=control_number,
        group_control_number=group_control_number, version=version, separators=seps, at=at, usage=received.usage,
    )


def _fit(seps: Separators, version: str) -> Separators:
    """The separators adjusted to ``version``: ISA11 is a repetition separator only from 4020."""
    if version[:6] < "004020":
        return seps.model_copy(update={"repetition": None})
    if seps.repetition is not None:
        return seps
    taken = {seps.element, seps.component, seps.segment}
    return seps.model_copy(update={"repetition": next(c for c in "^{!" if c not in taken)})


# --- read ---------------------------------------------------------------------------------


def read_997(interchange: Interchange) -> list[AckResult]:
    """Every verdict in the 997s of ``interchange``: one per acknowledged set, or one per group
    when a 997 carries no AK2 detail (then ``set_control_number`` is None).

    Raises :class:`BadDocument` when the interchange holds no 997 or a 997 cannot be read.
    """
    results: list[AckResult] = []
    seen = False
    for group in interchange.groups:
        for ts in group.sets:
            if ts.id == "997":
                seen = True
                # the codec of a 997 set decodes to a FunctionalAck997
                results.extend(_results(cast(FunctionalAck997, decode_document(ts))))
    if not seen:
        raise BadDocument(f"interchange {interchange.control_number:09d} holds no 997", system="x12",
                          operation="read_997")
    return results


def _results(ack: FunctionalAck997) -> list[AckResult]:
    group = ack.group_control_number
    if not ack.responses:
        reasons = [_AK9.get(c, f"group error code {c}") for c in ack.codes]
        return [AckResult(group, None, _STATUS[ack.status], reasons)]
    return [AckResult(group, r.control_number, _STATUS[r.status], _reasons(r)) for r in ack.responses]


def _reasons(response: SetResponse) -> list[str]:
    """One line per AK3 (with its AK4s), then one per AK5 code."""
    out = []
    for note in response.errors:
        text = f"{note.segment_id} at position {note.position}: {_AK304.get(note.code or '', 'error')}"
        for e in note.elements:
            ref = f" ({e.reference})" if e.reference else ""
            got = f" {e.bad_value!r}" if e.bad_value else ""
            text += f"; element {e.position}{ref}: {_AK403.get(e.code, f'error code {e.code}')}{got}"
        out.append(text)
    return out + [_AK5.get(c, f"set error code {c}") for c in response.codes]
