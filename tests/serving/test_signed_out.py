"""The shared record of signed-out sessions: what it remembers, for how long, across processes."""

from __future__ import annotations

import time
from pathlib import Path

from serving.pages.signed_out import SignedOut


def test_a_sign_out_is_seen_by_another_store_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "signed-out.sqlite"
    one, two = SignedOut(path), SignedOut(path)
    assert "abc" not in two
    one.add("abc", time.time() + 60)
    assert "abc" in two and "abd" not in two and None not in two


def test_expired_sign_outs_are_dropped_at_the_next_sign_out(tmp_path: Path) -> None:
    store = SignedOut(tmp_path / "signed-out.sqlite")
    store.add("old", time.time() - 1)  # its session would have expired anyway
    assert "old" in store
    store.add("new", time.time() + 60)
    assert "old" not in store and "new" in store
