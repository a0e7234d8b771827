"""``hftpipe top`` driven in a real terminal (tmux): start it, read the screen, press q."""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.metrics_run import Background, start_pipeline
from tests.integration.probe_config import wait_for, write_probe_config

STAGES = ("source", "relay1", "relay2", "relay3", "sink")


@pytest.fixture
def probe(tmp_path: Path, pipeline_name: str, hftpipe_cmd: list[str]) -> Iterator[None]:
    config = write_probe_config(tmp_path, pipeline_name)
    pipeline = start_pipeline(hftpipe_cmd, config, pipeline_name, tmp_path / "run.log")
    try:
        yield
    finally:
        assert pipeline.stop() == 0, pipeline.output()


class Tmux:
    """A private tmux server (its own socket) running one command in a 150x40 window."""

    def __init__(self, directory: Path, command: list[str]) -> None:
        tmux = shutil.which("tmux") or ("/usr/bin/tmux" if Path("/usr/bin/tmux").exists() else None)
        if tmux is None:
            pytest.skip("tmux is not installed (Debian package 'tmux'; .ci/run installs it with apt-get)")
        self.base = [tmux, "-S", str(directory / "tmux.sock")]
        self.rc_file = directory / "top.rc"
        # pytest exports COLUMNS=80 and LINES=24; curses would believe them over the terminal's own size.
        script = f"env -u COLUMNS -u LINES {shlex.join(command)}; echo $? > {shlex.quote(str(self.rc_file))}"
        subprocess.run([*self.base, "new-session", "-d", "-s", "top", "-x", "150", "-y", "40", script], check=True)

    def screen(self) -> str:
        result = subprocess.run(
            [*self.base, "capture-pane", "-p", "-t", "top"], capture_output=True, text=True, check=False
        )
        return result.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.base, "send-keys", "-t", "top", *keys], check=True)

    def exit_status(self) -> int | None:
        return int(self.rc_file.read_text()) if self.rc_file.exists() and self.rc_file.read_text().strip() else None

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True, check=False)


def _stage_rates(screen: str) -> dict[str, list[str]]:
    """``{stage: [in/s, out/s]}`` from the stage table of a screen."""
    rows = {}
    for line in screen.splitlines():
        cells = line.split()
        if cells and cells[0] in STAGES and len(cells) >= 9:
            rows[cells[0]] = cells[5:7]
    return rows


def _has_rates(screen: str) -> bool:
    rates = _stage_rates(screen).get("relay2", ["-", "-"])
    return all(re.fullmatch(r"[\d,]+", rate) for rate in rates)


def test_should_show_every_stage_ring_and_hop_live_and_quit_on_q(
    probe: None, tmp_path: Path, pipeline_name: str, hftpipe_cmd: list[str]
) -> None:
    tmux = Tmux(tmp_path, [*hftpipe_cmd, "top", "--name", pipeline_name])
    try:
        # From the second read on, the relays show a rate in and out, and each hop its p50 and p99.
        try:
            wait_for(lambda: _has_rates(tmux.screen()), "rates on the screen")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen:\n{tmux.screen()}") from None
        screen = tmux.screen()
        assert f"hftpipe top - pipeline {pipeline_name} [running]" in screen
        assert set(_stage_rates(screen)) == set(STAGES)
        relay = next(line for line in screen.splitlines() if line.startswith("relay2 "))
        assert relay.split()[1:2] == ["running"] and relay.split()[4] == "blocking"
        for ring in ("source-relay1", "relay1-relay2", "relay2-relay3", "relay3-sink"):
            row = next(line for line in screen.splitlines() if line.startswith(ring + " "))
            assert re.search(r"\d+(ns|µs|ms|s)\s+\d+(\.\d)?(ns|µs|ms|s)$", row), row
        assert "end to end at sink" in screen
        # It refreshes: the uptime moves on.
        uptime = re.search(r"up (\d+) s", screen)
        assert uptime
        wait_for(lambda: re.search(rf"up (?!{uptime.group(1)} )\d+ s", tmux.screen()) is not None, "a refresh")
        tmux.keys("q")
        wait_for(lambda: tmux.exit_status() is not None, "top to quit on q")
        assert tmux.exit_status() == 0
    finally:
        tmux.close()


def test_should_fall_back_to_stat_watch_when_not_on_a_terminal(
    probe: None, tmp_path: Path, pipeline_name: str, hftpipe_cmd: list[str]
) -> None:
    top = Background([*hftpipe_cmd, "top", "--name", pipeline_name], tmp_path / "top.log")
    try:
        wait_for(lambda: top.output().count(f"pipeline {pipeline_name} [running]") >= 2, "two stat screens")
    finally:
        top.process.send_signal(signal.SIGINT)
        top.process.wait(timeout=30)
    assert top.process.returncode == 0, top.output()
    assert "ring source-relay1" in top.output()
