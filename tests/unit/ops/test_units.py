"""Unit generation from a config: what the owner unit grants follows what the stages ask for."""

from __future__ import annotations

from pathlib import Path

import pytest

from hftpipe.ops.host_config import load_for_cores
from hftpipe.ops.units import UnitOptions, generate_units, watchdog_s
from hftpipe.runtime.config import PipelineConfig
from hftpipe.runtime.validation import ConfigError
from tests.integration.probe_config import write_probe_config

HOST_CORES = set(range(8))


def _config(tmp_path: Path, relay1: str = "", sink: str = "") -> PipelineConfig:
    path = write_probe_config(tmp_path, "units-test", relays=1)
    text = path.read_text()
    text = text.replace('class = "stages.probe:ProbeRelay"', 'class = "stages.probe:ProbeRelay"\n' + relay1)
    text = text.replace('class = "stages.probe:ProbeSink"', 'class = "stages.probe:ProbeSink"\n' + sink)
    path.write_text(text)
    return load_for_cores(path, HOST_CORES)


def _settings(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_should_make_a_target_and_a_notify_owner_unit_bound_to_it(tmp_path: Path) -> None:
    config = _config(tmp_path)
    files = generate_units(config, UnitOptions(cpus={0, 1}))
    assert sorted(files) == ["hftpipe-units-test.service", "hftpipe-units-test.target"]
    target = _settings(files["hftpipe-units-test.target"])
    assert target["Wants"] == target["After"] == ["hftpipe-units-test.service"]
    service = _settings(files["hftpipe-units-test.service"])
    assert service["Type"] == ["notify"]
    assert service["PartOf"] == ["hftpipe-units-test.target"]
    assert service["ExecStart"][0].endswith(f"-m hftpipe run -c {config.source} --name units-test")
    assert service["WatchdogSec"] == [f"{watchdog_s(config)}s"]
    assert service["RestartPreventExitStatus"] == ["78 77"]
    assert service["CPUAffinity"] == ["0-1"]
    assert service["RestrictRealtime"] == ["yes"]
    assert "LimitRTPRIO" not in service and "LimitMEMLOCK" not in service
    assert service["ReadWritePaths"] == ["/dev/shm"]
    assert service["User"] == ["hftpipe"] and service["RemoveIPC"] == ["yes"]


def test_should_grant_realtime_priority_and_locked_memory_only_when_a_stage_asks(tmp_path: Path) -> None:
    config = _config(tmp_path, relay1="cpu = 6\nrealtime_priority = 40", sink="realtime_priority = 70\nmlockall = true")
    service = _settings(generate_units(config, UnitOptions(cpus={0, 6}))["hftpipe-units-test.service"])
    assert service["LimitRTPRIO"] == ["70"]
    assert service["LimitMEMLOCK"] == ["infinity"]
    assert service["RestrictRealtime"] == ["no"]
    assert service["CPUAffinity"] == ["0,6"]


def test_should_pin_a_core_outside_this_process_affinity_when_the_host_has_it(tmp_path: Path) -> None:
    # An isolcpus= core is outside every default affinity, yet the pipeline's to pin.
    config = _config(tmp_path, relay1="cpu = 7")
    assert config.stage("relay1").cpu == 7


def test_should_refuse_a_core_the_host_lacks_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, relay1="cpu = 9")
    assert caught.value.key == "stages.relay1.cpu"


def test_should_leave_out_system_only_settings_for_a_user_manager(tmp_path: Path) -> None:
    files = generate_units(_config(tmp_path), UnitOptions(cpus={0}, user_mode=True))
    service = _settings(files["hftpipe-units-test.service"])
    assert "User" not in service and "RemoveIPC" not in service and "Wants" not in service
    assert service["StateDirectory"] == ["hftpipe"]
    assert service["PrivateUsers"] == ["yes"]
    assert service["ProtectHome"] == ["read-only"]
    assert _settings(files["hftpipe-units-test.target"])["WantedBy"] == ["default.target"]
