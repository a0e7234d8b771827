"""The supervisor under a fake ``NOTIFY_SOCKET`` (a datagram socket this test binds and reads):
READY only once every stage is ready, WATCHDOG while healthy and none once a stage is stuck,
STOPPING when it stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hftpipe.runtime.config import load_config
from hftpipe.runtime.supervisor import StartupFailedError, Supervisor
from hftpipe.substrate.control_layout import StageState
from hftpipe.substrate.sd_notify import NOTIFY_SOCKET_ENV, WATCHDOG_USEC_ENV
from tests.integration.probe_config import write_probe_config

Message = dict[str, str]


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """systemd's end: bound, named in the environment (with a 100 ms watchdog), read by the test."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    monkeypatch.setenv(NOTIFY_SOCKET_ENV, path)
    monkeypatch.setenv(WATCHDOG_USEC_ENV, "100000")
    yield sock
    sock.close()


def _parse(datagram: bytes) -> Message:
    return dict(line.split("=", 1) for line in datagram.decode().split("\n"))


def _drain(sock: socket.socket) -> list[Message]:
    messages = []
    while True:
        try:
            messages.append(_parse(sock.recv(4096, socket.MSG_DONTWAIT)))
        except BlockingIOError:
            return messages


def _supervisor(tmp_path: Path, name: str, **options: object) -> Supervisor:
    return Supervisor(load_config(write_probe_config(tmp_path, name, **options)))  # type: ignore[arg-type]


def test_should_send_ready_only_once_every_stage_is_ready(
    tmp_path: Path, pipeline_name: str, notify_socket: socket.socket
) -> None:
    supervisor = _supervisor(tmp_path, pipeline_name)
    assert NOTIFY_SOCKET_ENV not in os.environ, "the stages must not inherit systemd's socket"
    seen: list[tuple[Message, list[StageState]]] = []

    def listen() -> None:
        notify_socket.settimeout(60)
        message = _parse(notify_socket.recv(4096))
        seen.append((message, [supervisor.control.stage_state(i) for i in range(len(supervisor.config.stages))]))

    listener = threading.Thread(target=listen)
    listener.start()
    try:
        supervisor.start()
        listener.join(60)
        assert not listener.is_alive()
        ((first, states_then),) = seen
        assert first == {"READY": "1", "STATUS": "running: 5 stages ready"}
        assert all(state in (StageState.READY, StageState.RUNNING) for state in states_then), states_then
    finally:
        supervisor.destroy()


def test_should_never_send_ready_when_a_stage_fails_to_start(
    tmp_path: Path, pipeline_name: str, notify_socket: socket.socket
) -> None:
    path = write_probe_config(tmp_path, pipeline_name)
    # The sink refuses a ring whose slots cannot hold a probe record: the pipeline never gets ready.
    text = path.read_text()
    head, _, tail = text.rpartition("slot_size = 64")
    path.write_text(head + "slot_size = 16" + tail)
    supervisor = Supervisor(load_config(path))
    with pytest.raises(StartupFailedError, match="sink"):
        try:
            supervisor.start()
        finally:
            supervisor.destroy()
    assert not any("READY" in message for message in _drain(notify_socket))


def test_should_ping_the_watchdog_while_healthy_and_stop_once_a_stage_is_stuck(
    tmp_path: Path, pipeline_name: str, notify_socket: socket.socket
) -> None:
    supervisor = _supervisor(tmp_path, pipeline_name, on_failure="stop", heartbeat_timeout_ms=4000)
    messages: list[Message] = []
    frozen_at: list[int] = []

    def on_tick() -> None:
        messages.extend(_drain(notify_socket))
        if not frozen_at and sum("WATCHDOG" in m for m in messages) >= 3:
            frozen_at.append(len(messages))
            os.kill(supervisor.control.stage_pid(supervisor.config.stage_index("relay2")), signal.SIGSTOP)

    try:
        supervisor.start()
        supervisor.run(duration_s=120, on_tick=on_tick)
        messages.extend(_drain(notify_socket))
    finally:
        supervisor.destroy()

    assert messages[0]["READY"] == "1"
    assert frozen_at, "the watchdog was never pinged while every stage was healthy"
    stuck = next(i for i, m in enumerate(messages) if "stuck" in m.get("STATUS", ""))
    assert stuck >= frozen_at[0]
    assert messages[stuck]["STATUS"] == "stage relay2 stuck: no heartbeat for over 2000 ms"
    assert not any("WATCHDOG" in m for m in messages[stuck:]), messages[stuck:]
    assert supervisor.failure is not None and "relay2" in supervisor.failure
    assert messages[-1]["STOPPING"] == "1"
    assert messages[-1]["STATUS"] == f"stopping: {supervisor.failure}"


def test_should_notify_from_hftpipe_run_until_it_stops_on_sigterm(
    tmp_path: Path, pipeline_name: str, notify_socket: socket.socket, hftpipe_cmd: list[str]
) -> None:
    # What systemd runs: the CLI, READY, pings, then STOPPING on SIGTERM and a clean exit.
    config = write_probe_config(tmp_path, pipeline_name)
    process = subprocess.Popen(
        [*hftpipe_cmd, "run", "-c", str(config), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        notify_socket.settimeout(60)
        messages = [_parse(notify_socket.recv(4096))]
        while sum("WATCHDOG" in m for m in messages) < 3:
            messages.append(_parse(notify_socket.recv(4096)))
        process.send_signal(signal.SIGTERM)
        while "STOPPING" not in messages[-1]:
            messages.append(_parse(notify_socket.recv(4096)))
        assert process.wait(60) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert messages[0] == {"READY": "1", "STATUS": "running: 5 stages ready"}
    assert messages[-1] == {"STOPPING": "1", "STATUS": "stopping: stop requested"}


def test_should_report_a_failed_notification_once_and_keep_running(
    tmp_path: Path, pipeline_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NOTIFY_SOCKET_ENV, str(tmp_path / "nobody-listens"))
    monkeypatch.setenv(WATCHDOG_USEC_ENV, "100000")
    supervisor = _supervisor(tmp_path, pipeline_name)
    ticks = 0

    def count() -> None:
        nonlocal ticks
        ticks += 1

    try:
        supervisor.start()
        supervisor.run(should_stop=lambda: ticks >= 10, on_tick=count)
        errors = supervisor.control.read_errors(None)
        assert supervisor.failure is None
    finally:
        supervisor.destroy()
    failed = [e for e in errors if e.message.startswith("systemd notification failed: ")]
    assert len(failed) == 1 and failed[0].count == 1, errors  # the error log counts repeats: none
    assert str(tmp_path / "nobody-listens") in failed[0].message
