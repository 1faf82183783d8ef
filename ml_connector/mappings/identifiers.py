"""Identifiers that go into a target (bill, PO and invoice numbers, partner ids): no control
characters. A partner can send ``&#13;`` inside a document number; kept, it becomes an Intacct
bill number with a carriage return in it and splits rows of every CSV and report that shows it.
Normalising it away could merge two documents, so it is refused and the document quarantined
with the reason, for a person to have it resent."""

from __future__ import annotations

import re

from ..connectors.errors import BadDocument

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(value: str) -> str:
    """``value`` with every control character shown as an escape (for reasons and logs)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", value)


def identifier(value: str, what: str, *, operation: str = "mapping") -> str:
    """``value`` unchanged, or BadDocument naming the field and the character."""
    found = _CONTROL.search(value)
    if found:
        raise BadDocument(f"{what} {printable(value)!r} contains the control character U+{ord(found.group()):04X}; "
                          "have it resent without it", system="mapping", operation=operation, code="control-character")
    return value
