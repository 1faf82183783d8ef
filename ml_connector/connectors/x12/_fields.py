"""The field maps of the typed documents: reading and writing model fields as X12 elements.

Each model's ``x12`` maps a field to ``"SEGNN[:kind]"`` (see models.py). The functions here
turn elements into field values and back, and cut a set into its areas and loops. Any
problem is a :class:`Problem` carrying the segment, its position (ST = 1) and the 997 codes,
which documents.py turns into a one-line ``SetError``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal
from typing import Any, Literal, overload

from pydantic import BaseModel, ValidationError

from .models import Segment, TransactionSet

Located = tuple[int, Segment]  # (position in the set, ST = 1; segment)

_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_INTEGER = re.compile(r"-?[0-9]+")


class Problem(Exception):
    """Where a set went wrong, in the terms of a 997 AK3 (segment) and AK4 (element)."""

    def __init__(self, segment_id: str, position: int, why: str, *, code: str | None = "8",
                 element: int | None = None, element_code: str | None = None, value: str | None = None) -> None:
        super().__init__(why)
        self.where: dict[str, Any] = dict(segment_id=segment_id, position=position, segment_code=code, element=element,
                          element_code=element_code, bad_value=value)
        self.why = why


# --- field maps -----------------------------------------------------------------------------


@functools.cache
def _specs(model: type[BaseModel]) -> tuple[tuple[str, str, int, str], ...]:
    """(field, segment id, element number, kind) for each entry of ``model.x12``."""
    out = []
    # ``x12`` is a ClassVar of each mapped model (models.py), which BaseModel does not declare
    for name, spec in model.x12.items():  # type: ignore[attr-defined]
        ref, _, kind = spec.partition(":")
        out.append((name, ref[:-2], int(ref[-2:]), kind))
    return tuple(out)


_KINDS = {"R": ("a number", "6"), "N0": ("an integer", "6"), "N2": ("an amount in cents", "6"),
          "DT": ("a CCYYMMDD date", "8")}


def _convert(kind: str, raw: str) -> Any:
    if kind == "R" and _NUMBER.fullmatch(raw):
        return Decimal(raw)
    if kind in ("N0", "N2") and _INTEGER.fullmatch(raw):
        return int(raw) if kind == "N0" else _shift(Decimal(raw), -2)
    if kind == "DT" and len(raw) == 8 and raw.isdigit():
        return dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    raise ValueError(raw)


def _shift(value: Decimal, places: int) -> Decimal:
    """``value`` times 10**places, exactly (scaleb rounds to the context's 28 digits)."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):  # NaN or infinity: no digits to shift
        raise ValueError(value)
    return Decimal((sign, digits, exponent + places))


def element_value(located: Located, n: int, kind: str, required: bool) -> Any:
    """Element ``n`` of a located segment as a value of ``kind``; None when absent and optional."""
    position, seg = located
    ref = f"{seg.id}{n:02d}"
    if kind == "ids":
        return _pairs(located, n)
    if kind == "list":
        return [seg.get(k) for k in range(n, len(seg.elements) + 1) if seg.get(k)]
    raw = seg.get(n)
    if not raw:
        if required:
            raise Problem(seg.id, position, f"{ref} is missing", element=n, element_code="1")
        return None
    if not kind:
        return raw
    try:
        return _convert(kind, raw)
    except (ValueError, ArithmeticError):
        what, code = _KINDS[kind]
        raise Problem(seg.id, position, f"{ref} {raw[:20]!r} is not {what}", element=n, element_code=code,
                       value=raw) from None


def _pairs(located: Located, n: int) -> list[dict[str, str]]:
    position, seg = located
    out = []
    for k in range(n, len(seg.elements) + 1, 2):
        qualifier, value = seg.get(k), seg.get(k + 1)
        if bool(qualifier) != bool(value):
            missing = k + 1 if qualifier else k
            raise Problem(seg.id, position, f"{seg.id}{missing:02d} is missing for its pair", element=missing,
                           element_code="2")
        if qualifier:
            out.append({"qualifier": qualifier, "value": value})
    return out


def read(model: type[BaseModel], found: dict[str, Located], anchor: int | None = None, **extra: Any) -> Any:
    """``model`` from the segments in ``found`` (by id) plus already-built ``extra`` fields."""
    anchor = anchor if anchor is not None else min(p for p, _ in found.values())
    values = dict(extra)
    for name, seg_id, n, kind in _specs(model):
        if seg_id in found:
            value = element_value(found[seg_id], n, kind, model.model_fields[name].is_required())
            if value is not None:
                values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        spec = {name: (seg_id, n) for name, seg_id, n, _ in _specs(model)}.get(str(error["loc"][0]))
        if spec is None or spec[0] not in found:  # a mandatory field whose segment is absent
            seg_id = spec[0] if spec else str(error["loc"][0])
            raise Problem(seg_id, anchor, f"{seg_id} is missing", code="3") from None
        position = found[spec[0]][0]
        raw = str(error.get("input"))[:20]
        raise Problem(spec[0], position, f"{spec[0]}{spec[1]:02d} {raw!r}: {error['msg'].lower()}",
                       element=spec[1], element_code="7", value=raw) from None


@overload
def write(model: BaseModel, seg_id: str, always: Literal[True]) -> Segment: ...
@overload
def write(model: BaseModel, seg_id: str, always: bool = False) -> Segment | None: ...
def write(model: BaseModel, seg_id: str, always: bool = False) -> Segment | None:
    """The ``seg_id`` segment of ``model``; None when it has nothing to say and is optional."""
    elements: dict[int, str] = {}
    for name, sid, n, kind in _specs(type(model)):
        value = getattr(model, name)
        if sid != seg_id or value is None or value == []:
            continue
        if kind == "ids":
            for k, pair in enumerate(value):
                elements[n + 2 * k], elements[n + 2 * k + 1] = pair.qualifier, pair.value
        elif kind == "list":
            elements.update((n + k, v) for k, v in enumerate(value))
        else:
            elements[n] = _format(kind, value, f"{seg_id}{n:02d}")
    if not elements and not always:
        return None
    return Segment(id=seg_id, elements=[elements.get(k, "") for k in range(1, max(elements, default=0) + 1)])


def _format(kind: str, value: Any, ref: str) -> str:
    if kind == "DT":
        return f"{value.year:04d}{value.month:02d}{value.day:02d}"
    if kind in ("R", "N2") and not value.is_finite():
        raise Problem(ref[:-2], 0, f"{ref} {value} is not a finite number")
    if kind == "R":
        return format(value, "f")
    if kind == "N2":
        cents = _shift(value, 2)
        if cents != cents.to_integral_value():
            raise Problem(ref[:-2], 0, f"{ref} {value} has more than two decimals")
        return str(int(cents))
    return str(value)


# --- shared structure ---------------------------------------------------------------------


def first(segs: list[Located], seg_id: str) -> Located | None:
    """The first ``seg_id`` segment, or None."""
    return next((s for s in segs if s[1].id == seg_id), None)


def every(segs: list[Located], seg_id: str) -> list[Located]:
    """Every ``seg_id`` segment, in order."""
    return [s for s in segs if s[1].id == seg_id]


def areas(ts: TransactionSet, opening: str, line_id: str, summary_id: str):
    """(beginning segment, header, detail loops, summary) of a set."""
    segs = list(enumerate(ts.segments, 2))
    if not segs or segs[0][1].id != opening:
        found = segs[0][1].id if segs else "SE"
        raise Problem(opening, 2, f"{opening} is missing (found {found})", code="3")
    head: list[Located] = []
    lines: list[list[Located]] = []
    summary: list[Located] = []
    for located in segs[1:]:
        seg_id = located[1].id
        if summary or seg_id == summary_id:
            if seg_id == line_id:
                raise Problem(seg_id, located[0], f"{seg_id} after {summary_id}", code="7")
            summary.append(located)
        elif seg_id == line_id:
            lines.append([located])
        elif lines:
            lines[-1].append(located)
        else:
            head.append(located)
    return segs[0], head, lines, summary


def require(segs: list[Located], seg_id: str, anchor: int) -> Located:
    """The first ``seg_id`` in ``segs``; missing, it is reported at position ``anchor``."""
    found = first(segs, seg_id)
    if found is None:
        raise Problem(seg_id, anchor, f"{seg_id} is missing", code="3")
    return found


def end(ts: TransactionSet) -> int:
    """The position of SE: where a missing summary segment is reported."""
    return len(ts.segments) + 2


def check_count(summary: list[Located], count: int, what: str) -> None:
    """CTT01 is a control total: a disagreeing one means lines were lost or added on the way."""
    ctt = first(summary, "CTT")
    if ctt is not None:
        said = element_value(ctt, 1, "N0", True)
        if said != count:
            raise Problem("CTT", ctt[0], f"CTT01 says {said} {what}, the set has {count}")


def loops(segs: list[Located], loop_id: str, members: set[str]) -> tuple[list[Located], list[list[Located]]]:
    """(segments outside any loop, loops): a loop is ``loop_id`` and the members that follow it."""
    outside: list[Located] = []
    found: list[list[Located]] = []
    current: list[Located] | None = None
    for located in segs:
        if located[1].id == loop_id:
            current = [located]
            found.append(current)
        elif current is not None and located[1].id in members:
            current.append(located)
        else:
            current = None
            outside.append(located)
    return outside, found


