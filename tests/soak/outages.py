"""Faults placed at exact points of an Intacct listing, shared by the soak's fault-point tests
and the Sterling flow tests."""

from __future__ import annotations

import httpx

from ml_connector.connectors._http import RetryPolicy
from ml_connector.sandbox.base import SimulatedTimeout


class LineReadOutage:
    """Wraps the Intacct emulator: right after each readMore it answers whose number is in
    ``after``, the next ``times`` line-item ``read`` requests get a 503. ``times`` defaults to
    the HTTP layer's attempts, so the page's task fails after Intacct has moved its cursor."""

    def __init__(self, emulator, after, times: int = RetryPolicy().attempts) -> None:
        self.dispatch, self.after, self.times = emulator.dispatch, after, times
        self.read_mores, self.failing, self.refused = 0, 0, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if b"<readMore>" in request.content:
            self.read_mores += 1
            if self.read_mores in self.after:
                self.failing = self.times
        elif b"<read>" in request.content and self.failing:
            self.failing -= 1
            self.refused += 1
            return httpx.Response(503, text="Service Unavailable")
        return self.dispatch(request)


class LostReadMoreAnswer:
    """Wraps the Intacct emulator: the readMores whose number is in ``lose`` are answered (the
    server-side result set moves on) but their response is lost on the way back, so the HTTP
    layer sends the same readMore again and gets the page after the lost one."""

    def __init__(self, emulator, lose) -> None:
        self.dispatch, self.lose = emulator.dispatch, lose
        self.read_mores, self.lost = 0, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.dispatch(request)
        if b"<readMore>" in request.content:
            self.read_mores += 1
            if self.read_mores in self.lose:
                self.lost += 1
                raise SimulatedTimeout("readMore answered, response lost")
        return response
