"""``hftpipe replay`` serves a capture; ``hftpipe record`` records it back; the books agree."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from stages.marketdata.capture.book_report import book_report
from tests.captures import CAPTURES, capture


def test_should_record_a_replayed_venue_into_a_capture_that_rebuilds_the_same_books(
    hftpipe_cmd: list[str], tmp_path: Path
) -> None:
    capture("BINANCE.ws.1.0")  # skips when the captures are not here
    server = subprocess.Popen(
        [*hftpipe_cmd, "replay", str(CAPTURES / "BINANCE.ws.1.0"), "--port", "0", "--pace", "fast"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert banner.startswith("serving BINANCE.ws.1.0 on ws://127.0.0.1:"), banner
        ws_url = banner.split(" on ")[1].split(" and ")[0]
        http_url = banner.strip().split(" and ")[1]
        out = tmp_path / "REC.ws.1.0"
        result = subprocess.run(
            [
                *hftpipe_cmd,
                "record",
                "--venue",
                "binance",
                "--symbols",
                "NKNUSDT,BLZETH,LRCBTC,RUNEEUR",
                "--url",
                f"{ws_url}/stream?streams=x",
                "--rest-url",
                http_url,
                "--out",
                str(out),
                "--duration",
                "3",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("recorded 265 messages to ")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0
    recorded = book_report("binance", out, tmp_path / "REC.http.1.0")
    shipped = book_report("binance", CAPTURES / "BINANCE.ws.1.0", CAPTURES / "BINANCE.http.0.0")
    assert {k: (v["bids"], v["asks"], v["state"], v["last_update_id"]) for k, v in recorded.items()} == {
        k: (v["bids"], v["asks"], v["state"], v["last_update_id"]) for k, v in shipped.items()
    }
    lines = out.read_text().splitlines()
    assert lines[0].startswith(f"{ws_url}/stream?streams=x <-> ")
    assert json.loads(lines[1].split(": ", 1)[1])  # every received line is the venue's JSON


def test_should_exit_65_when_asked_to_replay_a_file_that_is_not_a_capture(
    hftpipe_cmd: list[str], tmp_path: Path
) -> None:
    bad = tmp_path / "X.ws.0"
    bad.write_text("hello\n")
    result = subprocess.run(
        [*hftpipe_cmd, "replay", str(bad), "--port", "0"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 65
    assert result.stderr.startswith(f"hftpipe: bad capture {bad}: ")
