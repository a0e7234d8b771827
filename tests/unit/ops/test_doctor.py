"""The doctor against fake /proc and /sys trees: a tuned host passes everything, an untouched one
is told what to fix, and a VM without cpufreq is warned, not failed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from hftpipe.ops.doctor import Finding, Host, Status, examine
from hftpipe.ops.host_config import load_for_cores
from tests.conftest import DEFAULT_CONFIG
from tests.integration.probe_config import write_probe_config
from tests.unit.ops.fake_host import write_host

HOST_CORES = set(range(16))


def _config(tmp_path: Path, source: str, relay1: str, sink: str) -> Path:
    path = write_probe_config(tmp_path, "doctor-test", relays=1)
    text = path.read_text()
    text = text.replace('class = "stages.probe:ProbeSource"', 'class = "stages.probe:ProbeSource"\n' + source)
    text = text.replace('class = "stages.probe:ProbeRelay"', 'class = "stages.probe:ProbeRelay"\n' + relay1)
    text = text.replace('class = "stages.probe:ProbeSink"', 'class = "stages.probe:ProbeSink"\n' + sink)
    path.write_text(text)
    return path


def _good_config(tmp_path: Path) -> Path:
    # Spinners on cores 2 and 3; the source backs off on 6, the sibling of 2.
    return _config(tmp_path, 'cpu = 6\nidle = "backoff"', 'cpu = 2\nidle = "busy-spin"\nrealtime_priority = 50',
                   'cpu = 3\nidle = "busy-spin"\nmlockall = true')  # fmt: skip


def _bad_config(tmp_path: Path) -> Path:
    # A core the host lacks, and two spinners on SMT siblings 2 and 6.
    return _config(tmp_path, "cpu = 9", 'cpu = 2\nidle = "busy-spin"\nrealtime_priority = 50',
                   'cpu = 6\nidle = "busy-spin"\nmlockall = true')  # fmt: skip


def _by_item(findings: list[Finding]) -> dict[str, Finding]:
    return {f.item: f for f in findings}


def test_should_pass_every_item_on_a_tuned_host_with_a_fitting_config(tmp_path: Path) -> None:
    host = Host(write_host(tmp_path / "root", tuned=True))
    findings = examine(host, load_for_cores(_good_config(tmp_path), HOST_CORES))
    assert {f.item: f.status for f in findings if f.status is not Status.PASS} == {}
    assert len(findings) == 23
    assert all(f.why for f in findings)
    by_item = _by_item(findings)
    assert by_item["kernel: isolcpus"].found == "2-3,6-7"
    assert by_item["cpu: SMT siblings of pinned cores"].found == "cores 2-3,6 have no sibling the OS schedules on"
    assert by_item["config: busy-spinning stages alone"].found == "relay1 on cpu2, sink on cpu3"


def test_should_name_each_problem_and_its_fix_on_an_untouched_host(tmp_path: Path) -> None:
    host = Host(write_host(tmp_path / "root", tuned=False))
    findings = examine(host, load_for_cores(_bad_config(tmp_path), HOST_CORES))
    statuses = {f.item: f.status.value for f in findings}
    assert statuses == {
        "kernel: isolcpus": "WARN",
        "kernel: nohz_full": "WARN",
        "kernel: rcu_nocbs": "WARN",
        "kernel: irqaffinity": "WARN",
        "clocksource": "WARN",
        "kernel: watchdogs": "WARN",
        "sysctl: kernel.timer_migration": "WARN",
        "sysctl: kernel.numa_balancing": "WARN",
        "sysctl: kernel.sched_rt_runtime_us": "WARN",
        "cpu: frequency governor": "WARN",
        "cpu: boost": "WARN",
        "cpu: idle states": "WARN",
        "cpu: SMT siblings of pinned cores": "WARN",
        "irq: affinity": "WARN",
        "irq: irqbalance": "WARN",
        "memory: transparent huge pages": "WARN",
        "sysctl: vm.swappiness": "WARN",
        "limit: RLIMIT_MEMLOCK": "FAIL",
        "limit: RLIMIT_RTPRIO": "FAIL",
        "memory: /dev/shm": "FAIL",
        "config: pinned cores exist": "FAIL",
        "config: stage cores isolated": "WARN",
        "config: busy-spinning stages alone": "FAIL",
    }
    assert all(f.fix for f in findings if f.status is not Status.PASS)
    by_item = _by_item(findings)
    assert by_item["config: pinned cores exist"].found == "source on cpu9 (online: 0-7)"
    assert by_item["config: busy-spinning stages alone"].found == "relay1 (cpu2) and sink (cpu6) share a physical core"
    assert by_item["irq: affinity"].found == "IRQ 25 may land on cores 2,6"
    assert by_item["cpu: idle states"].found == "C6 (133 µs) on cpu 2,6"
    assert "isolcpus=managed_irq,domain,2,6" in by_item["kernel: isolcpus"].fix
    assert by_item["sysctl: vm.swappiness"].fix.startswith("sysctl -w vm.swappiness=10")
    assert "more than the 65536 bytes free in /dev/shm" in by_item["memory: /dev/shm"].found


def test_should_warn_not_fail_on_a_vm_without_cpufreq(tmp_path: Path) -> None:
    host = Host(write_host(tmp_path / "root", tuned=True, cpufreq=False))
    by_item = _by_item(examine(host))
    assert by_item["cpu: frequency governor"].status is Status.WARN
    assert "no cpufreq here" in by_item["cpu: frequency governor"].found
    assert by_item["cpu: boost"].status is Status.WARN
    assert not [f for f in by_item.values() if f.status is Status.FAIL]


def test_should_check_the_isolated_cores_without_a_config(tmp_path: Path) -> None:
    host = Host(write_host(tmp_path / "root", tuned=False))
    by_item = _by_item(examine(host))
    assert "config: pinned cores exist" not in by_item
    # No isolated core: nothing to keep IRQs off, and the fix isolates all but the first core.
    assert by_item["irq: affinity"].status is Status.PASS
    assert "isolcpus=managed_irq,domain,1-7" in by_item["kernel: isolcpus"].fix
    assert by_item["memory: /dev/shm"].status is Status.WARN


def test_should_exit_1_on_a_fail_and_speak_json(tmp_path: Path, hftpipe_cmd: list[str]) -> None:
    bad = write_host(tmp_path / "bad", tuned=False)
    good = write_host(tmp_path / "good", tuned=True)
    base = [*hftpipe_cmd, "doctor", "--json"]
    failing = subprocess.run([*base, "--root", str(bad), "-c", str(_bad_config(tmp_path))],
                             capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert failing.returncode == 1, failing.stderr
    report = json.loads(failing.stdout)
    assert report["summary"] == {"PASS": 0, "WARN": 18, "FAIL": 5}
    passing = subprocess.run([*base, "--root", str(good), "-c", str(_good_config(tmp_path))],
                             capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert passing.returncode == 0, passing.stderr
    assert json.loads(passing.stdout)["summary"] == {"PASS": 23, "WARN": 0, "FAIL": 0}


def test_should_explain_this_host_for_real(hftpipe_cmd: list[str]) -> None:
    # The shipped default pins nothing and fits any /dev/shm a CI host has: nothing may FAIL.
    result = subprocess.run([*hftpipe_cmd, "doctor", "-c", str(DEFAULT_CONFIG), "--json"],
                            capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert len(report["findings"]) == 23 and report["summary"]["FAIL"] == 0
    assert all(f["why"] and (f["status"] == "PASS" or f["fix"] or "cannot check" in f["found"])
               for f in report["findings"])  # fmt: skip
