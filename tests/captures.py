"""Where the shipped exchange captures are (``../shared/data/captures``), for every test that reads one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stages.marketdata.capture.format import CaptureEvent, read_capture

REPO = Path(__file__).resolve().parent.parent
CAPTURES = Path(os.environ.get("HFTPIPE_CAPTURES", REPO.parent / "shared" / "data" / "captures"))


def capture_path(name: str) -> Path:
    """The capture's path; the test is skipped, saying where it looked, when the file is not here."""
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"capture {path} is not here (set HFTPIPE_CAPTURES to the captures folder)")
    return path


def capture(name: str) -> list[CaptureEvent]:
    return list(read_capture(capture_path(name)))
