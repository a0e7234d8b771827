"""``hftpipe units`` and ``hftpipe doctor``: putting a pipeline on a server and checking the server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from hftpipe.cli.common import config_error, config_option, fail, name_option
from hftpipe.ops.cpulist import parse_cpulist
from hftpipe.ops.doctor import Host, Status, examine
from hftpipe.ops.doctor.report import as_json, as_text
from hftpipe.ops.host_config import load_for_cores
from hftpipe.ops.units import UnitOptions, generate_units, target_name
from hftpipe.runtime.config import default_config_path
from hftpipe.runtime.validation import EX_CONFIG, ConfigError


@click.command()
@config_option("Pipeline TOML (default: the embedded configs/default.toml).")
@name_option
@click.option("--out", type=click.Path(file_okay=False), help="Write the unit files here (default: print them).")
@click.option("--user", "user_mode", is_flag=True, help="Units for systemctl --user instead of the system manager.")
@click.option("--run-as", default="hftpipe", show_default=True, help="System units: the User= and Group= to run as.")
@click.option("--cpus", help="CPUAffinity= of the pipeline, e.g. 0-1,4-7 (default: this process's cores "
              "plus every core the config pins).")  # fmt: skip
@click.option("--writable", multiple=True, help="An extra ReadWritePaths= entry (repeatable).")
def units(
    config_path: str | None,
    name: str | None,
    out: str | None,
    user_mode: bool,
    run_as: str,
    cpus: str | None,
    writable: tuple[str, ...],
) -> None:
    """systemd units of a pipeline: a target and the supervisor's Type=notify unit (stages are its children)."""
    try:
        chosen = parse_cpulist(cpus) if cpus else None
    except ValueError:
        fail(f"--cpus: {cpus!r} is not a CPU list such as 0-1,4-7", EX_CONFIG)
    if chosen is not None and not chosen:
        fail(f"--cpus: {cpus!r} names no core", EX_CONFIG)
    try:
        config = load_for_cores(config_path or default_config_path(), _host_cores(), name)
    except ConfigError as exc:
        config_error(exc)
    except ValueError as exc:
        fail(f"config error: --name: {exc}", EX_CONFIG)
    pinned = {s.cpu for s in config.stages if isinstance(s.cpu, int)}
    affinity = chosen if chosen is not None else set(os.sched_getaffinity(0)) | pinned
    missing = pinned - affinity
    if missing:
        fail(f"--cpus leaves out cores the config pins: {sorted(missing)}", EX_CONFIG)
    options = UnitOptions(cpus=affinity, user_mode=user_mode, run_as=run_as, writable=writable)
    files = generate_units(config, options)
    if out is None:
        for file_name, text in files.items():
            click.echo(f"# ----- {file_name}\n{text}")
        return
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        (directory / file_name).write_text(text)
        click.echo(str(directory / file_name))
    click.echo(_enable_hint(directory.resolve(), user_mode, target_name(config.name)), err=True)


def _enable_hint(directory: Path, user_mode: bool, target: str) -> str:
    """How to start it: straight from a directory the manager reads, else linked from elsewhere."""
    manager = "systemctl --user" if user_mode else "systemctl"
    searched = Path.home() / ".config/systemd/user" if user_mode else Path("/etc/systemd/system")
    link = "" if directory == searched else f"{manager} link {directory}/*.service {directory}/*.target && "
    return f"enable with: {link}{manager} daemon-reload && {manager} enable --now {target}"


def _host_cores() -> set[int]:
    """Every online core: the config may pin isolated ones, outside this process's affinity."""
    try:
        return parse_cpulist(Path("/sys/devices/system/cpu/online").read_text())
    except OSError:
        return set(os.sched_getaffinity(0))


@click.command()
@config_option("Also check this pipeline's placement on this host (pinned cores, spinners, /dev/shm room).")
@name_option
@click.option("--json", "as_json_output", is_flag=True, help="One JSON object: findings and a summary.")
@click.option("--root", default="/", show_default=True, type=click.Path(file_okay=False, exists=True),
              help="Read /proc and /sys under this directory (a copy of another host's).")  # fmt: skip
def doctor(config_path: str | None, name: str | None, as_json_output: bool, root: str) -> None:
    """Check the host for low-latency readiness: PASS / WARN / FAIL per item, why, and the fix.

    Exits 1 if anything FAILs (the config cannot run as configured here), else 0.
    """
    host = Host(Path(root))
    config = None
    if config_path is not None:
        try:
            # Every core the host has: the doctor itself reports a pinned core it lacks.
            config = load_for_cores(config_path, set(range(_max_cores(host))), name)
        except ConfigError as exc:
            config_error(exc)
        except ValueError as exc:
            fail(f"config error: --name: {exc}", EX_CONFIG)
    try:
        findings = examine(host, config)
    except ConfigError as exc:
        config_error(exc)
    click.echo(as_json(findings) if as_json_output else as_text(findings))
    if any(f.status is Status.FAIL for f in findings):
        sys.exit(1)


def _max_cores(host: Host) -> int:
    """Core numbers a config may name: up to the kernel's limit (the doctor checks they exist)."""
    kernel_max = host.read("/sys/devices/system/cpu/kernel_max")
    return int(kernel_max) + 1 if kernel_max and kernel_max.isdigit() else 8192
