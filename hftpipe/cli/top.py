"""``hftpipe top``: a full-screen live view of a running pipeline (curses), refreshed each second.

Reads only what ``hftpipe stat`` reads (the control file and ring headers, read-only);
:mod:`hftpipe.cli.top_view` decides what the lines say, this module only draws them
and listens for ``q``.
"""

from __future__ import annotations

import contextlib
import curses
import time
from typing import Final

from hftpipe.cli.top_view import STAGE_HEADER, TopSample, top_lines
from hftpipe.runtime.report import LatencySnapshot, RingReader, pipeline_report
from hftpipe.substrate.control import ControlFile

REFRESH_S: Final = 1.0
_KEY_POLL_MS: Final = 100
_QUIT_KEYS: Final = frozenset({ord("q"), ord("Q")})


def read_sample(control: ControlFile, rings: RingReader) -> TopSample:
    return TopSample(pipeline_report(control, rings.rings), LatencySnapshot.read(control), time.monotonic())


def run_top(control: ControlFile) -> None:
    """Until ``q`` (or Ctrl-C): the terminal is restored however it ends."""
    rings = RingReader(control)
    try:
        curses.wrapper(_loop, control, rings)
    except KeyboardInterrupt:
        pass
    finally:
        rings.close()


def _loop(screen: curses.window, control: ControlFile, rings: RingReader) -> None:
    curses.curs_set(0)
    screen.timeout(_KEY_POLL_MS)
    previous: TopSample | None = None
    current = read_sample(control, rings)
    _draw(screen, top_lines(previous, current))
    while True:
        key = screen.getch()
        if key in _QUIT_KEYS:
            return
        if time.monotonic() - current.at_s >= REFRESH_S:
            previous, current = current, read_sample(control, rings)
            _draw(screen, top_lines(previous, current))
        elif key == curses.KEY_RESIZE:
            _draw(screen, top_lines(previous, current))


def _draw(screen: curses.window, lines: list[str]) -> None:
    screen.erase()
    height, width = screen.getmaxyx()
    for row, line in enumerate(lines[:height]):
        attributes = curses.A_REVERSE if line.startswith((STAGE_HEADER[:5], "RING ")) else curses.A_NORMAL
        if row == 0:
            attributes = curses.A_BOLD
        with contextlib.suppress(curses.error):  # the bottom-right cell of a small terminal
            screen.addnstr(row, 0, line, max(width - 1, 0), attributes)
    screen.refresh()
