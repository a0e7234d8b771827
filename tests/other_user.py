"""A real unprivileged user for the tests that need one (ownership, permissions).

The user is created for one test with a unique name and removed after it. It
runs this checkout with this environment's packages on ``PYTHONPATH``: under
this interpreter when it may execute it, else under a system interpreter of
the same version (a virtual environment's interpreter may link to a directory
the user cannot enter). The test is skipped, saying why, when we are not root,
when the user cannot be created, or when it can run neither: we never widen
permissions to make it.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import site
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class OtherUser:
    """Runs commands as the user, with the checkout and our packages on its import path."""

    name: str
    uid: int
    gid: int
    repo: Path
    python: str = sys.executable

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.pathsep.join([str(self.repo), *site.getsitepackages()]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOME": "/",
            "LANG": "C.UTF-8",
        }

    def _as_user(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "env": self.env, "cwd": "/"}

    def run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, capture_output=True, text=True, check=False, timeout=120, **self._as_user(), **kwargs
        )

    def popen(self, args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(args, text=True, **self._as_user(), **kwargs)

    def python_code(self, code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        return self.popen([self.python, "-c", code, *args], **kwargs)

    def hftpipe(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI of this checkout, as this user."""
        return self.run([self.python, "-m", "hftpipe", *args])


def _interpreters() -> list[str]:
    """This interpreter, then a system one of the same version."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/local/bin:/usr/bin")
    return [sys.executable, *([system] if system and system != sys.executable else [])]


def _runnable(user: OtherUser) -> tuple[OtherUser | None, list[str]]:
    """The user with the first interpreter it can import the checkout under, and why the others failed."""
    problems = []
    for python in _interpreters():
        candidate = OtherUser(user.name, user.uid, user.gid, user.repo, python)
        try:
            probe = candidate.run([python, "-c", "import hftpipe.cli.main"])
        except OSError as exc:
            problems.append(f"{python}: {exc.strerror}")
            continue
        if probe.returncode == 0:
            return candidate, problems
        problems.append(f"{python}: " + (probe.stderr.strip().splitlines() or ["?"])[-1])
    return None, problems


@contextmanager
def unprivileged_user(repo: Path) -> Iterator[OtherUser]:
    """A fresh user that can run ``repo``; skips the test when there can be none."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create an unprivileged user")
    name = f"hftp-{secrets.token_hex(4)}"
    created = subprocess.run(
        ["useradd", "--no-create-home", "--no-user-group", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if created.returncode != 0:
        pytest.skip(f"cannot create a test user: useradd exited {created.returncode}: {created.stderr.strip()}")
    try:
        entry = pwd.getpwnam(name)
        user, problems = _runnable(OtherUser(name, entry.pw_uid, entry.pw_gid, repo))
        if user is None:
            pytest.skip(f"user {name} cannot run the checkout {repo}: {'; '.join(problems)}")
        yield user
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
