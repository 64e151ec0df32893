"""Fixtures of the fault-injection tests."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.faults.support import Daemon


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Append every :class:`Daemon` started; all are killed at teardown."""
    started: list[Daemon] = []
    yield started
    for d in started:
        d.reap()
