"""sd_notify on real AF_UNIX datagram sockets the test binds and reads: path and abstract names."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from hftpipe.substrate.sd_notify import (
    NOTIFY_SOCKET_ENV,
    WATCHDOG_PID_ENV,
    WATCHDOG_USEC_ENV,
    Notifier,
    NotifyError,
    format_message,
    socket_address,
)


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(10)
    yield sock
    sock.close()


def test_should_deliver_fields_as_one_datagram_to_a_path_socket(tmp_path: Path, receiver: socket.socket) -> None:
    path = str(tmp_path / "notify")
    receiver.bind(path)
    env = {NOTIFY_SOCKET_ENV: path}
    notifier = Notifier.from_environment(env)
    assert notifier is not None
    notifier.send(READY="1", STATUS="running: 3 stages ready")
    assert receiver.recv(4096) == b"READY=1\nSTATUS=running: 3 stages ready"
    notifier.close()


def test_should_deliver_to_an_abstract_socket_named_with_at(receiver: socket.socket) -> None:
    name = f"hftpipe-test-{secrets.token_hex(6)}"
    receiver.bind(b"\0" + name.encode())
    notifier = Notifier.from_environment({NOTIFY_SOCKET_ENV: "@" + name})
    assert notifier is not None
    notifier.send(WATCHDOG="1")
    assert receiver.recv(4096) == b"WATCHDOG=1"
    assert notifier.describe() == "@" + name
    notifier.close()


def test_should_raise_naming_the_socket_when_nobody_listens(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone"))
    with pytest.raises(NotifyError, match=r"cannot notify .*gone"):
        notifier.send(READY="1")
    notifier.close()


def test_should_refuse_a_socket_value_that_is_neither_path_nor_abstract() -> None:
    with pytest.raises(NotifyError, match="neither an absolute path"):
        socket_address("relative/notify")
    with pytest.raises(NotifyError):
        socket_address("@")


def test_should_refuse_a_value_that_would_start_another_assignment() -> None:
    with pytest.raises(ValueError, match="one KEY=value line"):
        format_message({"STATUS": "two\nlines"})


def test_should_take_the_variables_out_so_children_do_not_inherit_them(tmp_path: Path) -> None:
    env = {NOTIFY_SOCKET_ENV: str(tmp_path / "n"), WATCHDOG_USEC_ENV: "4000000", "KEEP": "1"}
    notifier = Notifier.from_environment(env)
    assert notifier is not None and notifier.watchdog_s == 2.0
    assert env == {"KEEP": "1"}
    notifier.close()


def test_should_ask_no_watchdog_when_it_is_meant_for_another_process(tmp_path: Path) -> None:
    env = {NOTIFY_SOCKET_ENV: str(tmp_path / "n"), WATCHDOG_USEC_ENV: "4000000", WATCHDOG_PID_ENV: "1"}
    notifier = Notifier.from_environment(env)
    assert notifier is not None and notifier.watchdog_s is None
    notifier.close()


def test_should_be_none_without_a_service_manager() -> None:
    assert Notifier.from_environment({}) is None
