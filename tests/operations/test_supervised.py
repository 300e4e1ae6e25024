"""The fault tests' restart policy (``processes.Supervised``), as docker-compose's ``restart: unless-stopped``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.processes import Supervised, wait_until


def test_a_process_that_exits_is_started_again_until_it_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Supervised, "RESTART_DELAY", 0.1)
    exits = Supervised("exits", [sys.executable, "-c", "print('up'); raise SystemExit(1)"], {}, tmp_path)
    try:
        wait_until(lambda: exits.restarts >= 2, timeout=30, what="two restarts")
    finally:
        exits.stop()
    restarts = exits.restarts
    time.sleep(0.5)
    assert exits.restarts == restarts, "no restart after stop"
    assert exits.log.read_text().count("up") >= 3


def test_a_running_process_is_left_alone(tmp_path: Path) -> None:
    runs = Supervised("runs", [sys.executable, "-c", "import time; time.sleep(30)"], {}, tmp_path)
    try:
        time.sleep(1)
        assert runs.alive() and runs.restarts == 0
    finally:
        runs.stop()
    assert not runs.alive()
