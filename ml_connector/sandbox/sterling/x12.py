"""The Sterling emulator's OWN minimal X12 reader and 997 writer (reference §B.1, §B.6).

This is sandbox code, not the product's X12 codec (``ml_connector.connectors.x12``), and it
is kept apart on purpose: the emulator plays the trading partner, so it must not share the
codec's bugs, or a test of the codec against the emulator would prove nothing. It reads only
the envelope (ISA, GS, ST) and writes only the 997 a partner's translator would send back.

Delimiters come from the ISA itself: the element separator is the character after "ISA",
the component separator is ISA16 and the segment terminator is the character after ISA16.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Group:
    """One functional group: its GS fields and the (ST01, ST02) of each transaction set."""

    functional_id: str  # GS01: PO, IN, SH, PR, FA...
    sender: str  # GS02
    receiver: str  # GS03
    control: str  # GS06
    version: str  # GS08
    sets: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Interchange:
    """The envelope facts a 997 echoes or swaps."""

    element: str
    component: str
    segment: str
    isa: list[str]  # ISA00 ("ISA") .. ISA16, raw (space-padded) values
    groups: list[Group] = field(default_factory=list)

    @property
    def control(self) -> str:
        return self.isa[13]


def looks_like_x12(content: bytes) -> bool:
    """Whether ``content`` starts like an X12 interchange (leading whitespace allowed)."""
    return content.lstrip()[:3] == b"ISA"


def read_envelope(content: bytes) -> Interchange:
    """The delimiters, ISA and GS/ST identifiers of an interchange; ValueError if unreadable."""
    text = content.decode("latin-1").lstrip()  # X12 is 7/8-bit; latin-1 never fails to decode
    if not text.startswith("ISA") or len(text) < 106:
        raise ValueError("not an X12 interchange: no complete ISA segment")
    element = text[3]
    isa = text.split(element, 16)
    if len(isa) < 17 or len(isa[16]) < 2:
        raise ValueError("ISA segment has fewer than 16 elements")
    component, segment = isa[16][0], isa[16][1]
    interchange = Interchange(element, component, segment, isa[:16] + [component])
    for raw in text.split(segment)[1:]:
        _read_segment(interchange, raw.strip("\r\n").split(element))
    if not interchange.groups:
        raise ValueError("interchange has no functional group")
    return interchange


def _read_segment(interchange: Interchange, elements: list[str]) -> None:
    tag = elements[0]
    if tag == "GS" and len(elements) >= 9:
        interchange.groups.append(Group(elements[1], elements[2], elements[3], elements[6], elements[8]))
    elif tag == "ST" and len(elements) >= 3:
        if not interchange.groups:
            raise ValueError("ST outside a functional group")
        interchange.groups[-1].sets.append((elements[1], elements[2]))


def build_997(received: Interchange, *, accept: bool, control_number: int, now: float | None = None) -> bytes | None:
    """The 997 interchange answering ``received``: one ST*997 per group, all sets accepted
    (``AK5*A``) or all rejected (``AK5*R*5``). None when there is nothing to acknowledge
    (a 997 is never itself acknowledged)."""
    groups = [g for g in received.groups if g.functional_id != "FA" and g.sets]
    if not groups:
        return None
    stamp = time.gmtime(time.time() if now is None else now)
    e = received.element
    isa = received.isa
    ctrl = f"{control_number:09d}"
    # Sender and receiver swap: the partner (ISA08/GS03 of what it received) now sends.
    segments = [e.join(["ISA", isa[1], isa[2], isa[3], isa[4], isa[7], isa[8], isa[5], isa[6],
                        time.strftime("%y%m%d", stamp), time.strftime("%H%M", stamp), isa[11], isa[12], ctrl,
                        "0", isa[15], received.component])]
    gs = groups[0]
    segments.append(e.join(["GS", "FA", gs.receiver, gs.sender, time.strftime("%Y%m%d", stamp),
                            time.strftime("%H%M", stamp), str(control_number), "X", gs.version]))
    for number, group in enumerate(groups, start=1):
        segments.extend(_ack_set(e, group, f"{number:04d}", accept))
    segments.append(e.join(["GE", str(len(groups)), str(control_number)]))
    segments.append(e.join(["IEA", "1", ctrl]))
    return (received.segment.join(segments) + received.segment).encode("latin-1")


def _ack_set(e: str, group: Group, st02: str, accept: bool) -> list[str]:
    body = [e.join(["ST", "997", st02]), e.join(["AK1", group.functional_id, group.control])]
    for st01, set_control in group.sets:
        body.append(e.join(["AK2", st01, set_control]))
        body.append(e.join(["AK5", "A"]) if accept else e.join(["AK5", "R", "5"]))
    n = str(len(group.sets))
    body.append(e.join(["AK9", "A" if accept else "R", n, n, n if accept else "0"]))
    body.append(e.join(["SE", str(len(body) + 1), st02]))
    return body
