"""What a refused CLI command must print: one ``hftpipe: ...`` line on stderr, never a traceback."""

from __future__ import annotations


def one_line_error(stderr: str) -> str:
    """The single error line of ``stderr``; fails the test on a traceback or anything more."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hftpipe: "), stderr
    return lines[0]
