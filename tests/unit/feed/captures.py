"""Where the shipped exchange captures are, for the feed tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hftpipe.capture import CaptureEvent, read_capture

CAPTURES = Path(
    os.environ.get("HFTPIPE_CAPTURES", Path(__file__).resolve().parents[3].parent / "shared" / "data" / "captures")
)


def capture(name: str) -> list[CaptureEvent]:
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"capture {path} is not here (set HFTPIPE_CAPTURES to the captures folder)")
    return list(read_capture(path))
