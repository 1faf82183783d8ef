"""Waiting for something a real server or process does (heartbeats, automations, locks)."""

from __future__ import annotations

import time

import pytest


def wait_for(condition, what: str, timeout: float = 120.0, interval: float = 0.5):
    """``condition()``'s first truthy value, polled every ``interval`` s; the test fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"gave up waiting for {what} after {timeout:.0f} s")
