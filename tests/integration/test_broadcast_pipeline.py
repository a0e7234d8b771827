"""A broadcast ring in a real pipeline through the CLI: every receiver gets the stream, every loss is accounted for.

The source broadcasts ``md`` to two sinks and a relay, and the relay feeds a
third sink through an SPSC ring, so one pipeline has both kinds. Whether a
receiver is lapped depends on the machine; what must hold exactly whatever
happens: each receiver's records in + lost == records published, a sink sees no
gap that is not a loss, nothing is repeated, and every ring is drained at stop.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.control_layout import PipelineState
from hftpipe.substrate.shm import list_entries
from tests.integration.cli_output import one_line_error
from tests.integration.probe_config import wait_for

RECEIVERS = ("sink_a", "sink_b", "relay")


def write_fan_out_config(directory: Path, name: str, *, capacity: int = 1024, rate: int = 2_000) -> Path:
    text = f"""
[pipeline]
name = "{name}"
stop_timeout_ms = 5000

[stages.source]
class = "stages.probe:ProbeSource"
params = {{ rate = {rate} }}

[stages.sink_a]
class = "stages.probe:ProbeSink"

[stages.sink_b]
class = "stages.probe:ProbeSink"

[stages.relay]
class = "stages.probe:ProbeRelay"

[stages.sink_c]
class = "stages.probe:ProbeSink"

[[rings]]
name = "md"
kind = "broadcast"
from = "source"
to = ["sink_a", "sink_b", "relay"]
capacity = {capacity}
slot_size = 64

[[rings]]
from = "relay"
to = "sink_c"
capacity = 1024
slot_size = 64
"""
    path = directory / f"{name}.toml"
    path.write_text(text)
    return path


def _running_with_records(name: str) -> bool:
    try:
        control = ControlFile.attach(name, readonly=True)
    except (FileNotFoundError, RuntimeError):
        return False
    try:
        counters = [control.read_counters(control.stage_index(s))["messages_in"] for s in ("sink_a", "sink_b")]
        return control.state is PipelineState.RUNNING and min(counters) > 0
    finally:
        control.close()


def _check_accounting(summary: dict[str, Any]) -> None:
    """The exact invariants of a stopped fan-out pipeline (stopped upstream first: every ring drained)."""
    counters, rings = summary["counters"], summary["rings"]
    published = counters["source"]["messages_out"]
    assert published > 0
    for receiver in RECEIVERS:
        row = rings[f"md.{receiver}"]
        assert (row["kind"], row["ring"], row["from"], row["to"]) == ("broadcast", "md", "source", receiver)
        assert row["produced"] == row["consumed"] == published, row
        assert row["full"] == 0 and row["lost"] == counters[receiver]["lost.md"]
        assert counters[receiver]["messages_in"] + row["lost"] == published, receiver
        assert counters["source"]["backpressure"] == 0
    for sink in ("sink_a", "sink_b"):
        # Every gap is a loss (a sink does not count one before its first record, so not every loss is a gap).
        assert counters[sink]["sequence_gaps"] <= counters[sink]["lost.md"], sink
        assert counters[sink]["sequence_repeats"] == 0
    spsc = rings["relay-sink_c"]
    assert (spsc["kind"], spsc["lost"]) == ("spsc", 0)
    assert (
        spsc["produced"] == spsc["consumed"] == counters["relay"]["messages_out"] == counters["sink_c"]["messages_in"]
    )
    hops = {hop["name"]: hop["count"] for hop in summary["latency"]["hops"]}
    assert hops == {
        "md.sink_a": counters["sink_a"]["messages_in"],
        "md.sink_b": counters["sink_b"]["messages_in"],
        "md.relay": counters["relay"]["messages_in"],
        "relay-sink_c": counters["sink_c"]["messages_in"],
    }


def test_should_fan_one_stream_out_to_every_receiver_and_report_each_ones_hop_and_loss(
    hftpipe_cmd: list[str], tmp_path: Path, pipeline_name: str
) -> None:
    config = write_fan_out_config(tmp_path, pipeline_name)
    process = subprocess.Popen(
        [*hftpipe_cmd, "run", "-c", str(config), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: _running_with_records(pipeline_name) or process.poll() is not None, "both sinks to receive")
        assert process.poll() is None, process.communicate()
        stat = subprocess.run(
            [*hftpipe_cmd, "stat", "--name", pipeline_name, "--json"], capture_output=True, text=True, check=True
        )
        live = json.loads(stat.stdout)["rings"]
        assert set(live) == {"md.sink_a", "md.sink_b", "md.relay", "relay-sink_c"}
        assert {live[f"md.{r}"]["receiver"] for r in RECEIVERS} == {0, 1, 2}
        text = subprocess.run(
            [*hftpipe_cmd, "stat", "--name", pipeline_name], capture_output=True, text=True, check=True
        ).stdout
        assert "ring md.sink_a" in text and " lost " in text and "ring relay-sink_c" in text and " full " in text
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["failure"] is None
    _check_accounting(summary)
    assert list_entries(pipeline_name) == []


def test_should_account_for_every_record_when_receivers_are_lapped(
    hftpipe_cmd: list[str], tmp_path: Path, pipeline_name: str
) -> None:
    """A 4-slot ring at 20,000 records/s: a receiver that misses a fifth of a millisecond is lapped."""
    config = write_fan_out_config(tmp_path, pipeline_name, capacity=4, rate=20_000)
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(config), "--duration", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["failure"] is None
    _check_accounting(summary)
    lapped = [r for r in RECEIVERS if summary["counters"][r]["lost.md"]]
    messages = {(e["stage"], e["message"]) for e in summary["errors"]}
    for receiver in lapped:  # a lap is logged (counted), not raised
        assert (receiver, "lapped on broadcast ring md: records lost, resumed from the newest") in messages
        assert summary["counters"][receiver]["errors"] == 0
    assert list_entries(pipeline_name) == []


BAD_BROADCASTS = [
    ('kind = "fanout"', 'to = ["sink_a"]', "rings[0].kind: must be one of spsc, broadcast, got 'fanout'"),
    (
        'kind = "spsc"',
        'to = ["sink_a", "sink_b"]',
        'rings[0].to: a list of stages needs kind = "broadcast"; an spsc ring has one consumer',
    ),
    ('kind = "broadcast"', "to = []", "rings[0].to: a broadcast ring needs at least one receiver"),
    (
        'kind = "broadcast"',
        'to = ["sink_a", "source"]',
        "rings[0].to[1]: a broadcast ring cannot deliver to its own producer 'source'",
    ),
    ('kind = "broadcast"', 'to = ["sink_a", "sink_a"]', "rings[0].to[1]: duplicate receiver 'sink_a'"),
    (
        'kind = "broadcast"',
        "to = [" + ", ".join(['"sink_a"'] * 17) + "]",
        "rings[0].to: a broadcast ring takes at most 16 receivers, got 17",
    ),
    ('kind = "broadcast"', 'to = ["sink_a", "nowhere"]', "rings[0].to[1]: no stage named 'nowhere'"),
]


@pytest.mark.parametrize(
    ("kind", "to", "error"),
    BAD_BROADCASTS,
    ids=["unknown kind", "list on spsc", "no receiver", "own producer", "duplicate", "17 receivers", "no such stage"],
)
def test_should_exit_78_naming_the_key_of_a_bad_broadcast_ring(
    hftpipe_cmd: list[str], tmp_path: Path, pipeline_name: str, kind: str, to: str, error: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        f'[pipeline]\nname = "{pipeline_name}"\n\n[stages.source]\nclass = "stages.probe:ProbeSource"\n\n'
        '[stages.sink_a]\nclass = "stages.probe:ProbeSink"\n\n[stages.sink_b]\nclass = "stages.probe:ProbeSink"\n\n'
        f'[[rings]]\nname = "md"\n{kind}\nfrom = "source"\n{to}\nslot_size = 64\n'
    )
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(config), "--duration", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 78, result.stderr
    assert one_line_error(result.stderr) == f"hftpipe: config error: {error}"
    assert list_entries(pipeline_name) == []
