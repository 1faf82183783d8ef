"""A process's resident memory from /proc: now, and its peak (shared by the memory runs and the
emulator host, which reports its own peak)."""

from __future__ import annotations

import resource


def mb(kilobytes: int) -> float:
    return round(kilobytes / 1024, 1)


def _proc_status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def vm_rss_kb() -> int:
    return _proc_status_kb("VmRSS")


def peak_rss_kb() -> int:
    """The process's peak RSS. ``VmHWM`` rather than ``getrusage(RUSAGE_SELF).ru_maxrss``:
    Linux keeps ru_maxrss across fork+exec, so a child of a big parent reports the parent's
    size at the fork; VmHWM belongs to the child's own address space."""
    return _proc_status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
