"""Every walk of an SPS listing goes through one guard: a cursor handed back twice stops it."""

from __future__ import annotations

import pytest

from ml_connector.connectors.errors import TransientError
from ml_connector.connectors.sps.client import follow


def test_a_listing_goes_on_to_each_new_cursor_and_ends_on_none():
    seen: set[str] = set()
    assert follow(seen, "a") == "a"
    assert follow(seen, "b") == "b"
    assert follow(seen, None) is None
    assert seen == {"a", "b"}


def test_a_cursor_handed_back_twice_stops_the_walk_instead_of_looping():
    seen: set[str] = set()
    follow(seen, "a")
    follow(seen, "b")
    with pytest.raises(TransientError) as raised:
        follow(seen, "a")
    assert raised.value.code == "cursor-repeated"
