"""config.py: TOML -> frozen dataclasses; every error names its key and its reason."""

from __future__ import annotations

import copy
import itertools
import mmap
import os
import subprocess
import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hftpipe.runtime.agent import Drive
from hftpipe.runtime.config import (
    PipelineConfig,
    RingConfig,
    check_shared_memory,
    default_config_path,
    load_config,
    parse_config,
)
from hftpipe.runtime.validation import EX_CONFIG, ConfigError
from hftpipe.substrate.broadcast_descriptor import broadcast_segment_size
from hftpipe.substrate.control_layout import ControlLayout
from hftpipe.substrate.idle import IdleSettings
from hftpipe.substrate.ring_descriptor import ring_segment_size
from stages.probe import ProbeRelay, ProbeSink, ProbeSource
from tests.conftest import DEFAULT_CONFIG, MARKETDATA_CONFIG, PROBE_CONFIG, REPO

CPUS = {0, 1}

BASE: dict[str, Any] = {
    "pipeline": {"name": "unit"},
    "stages": {
        "source": {"class": "stages.probe:ProbeSource", "params": {"rate": 1000}},
        "relay": {"class": "stages.probe:ProbeRelay"},
        "sink": {"class": "stages.probe:ProbeSink"},
    },
    "rings": [
        {"from": "source", "to": "relay", "capacity": 64, "slot_size": 64},
        {"from": "relay", "to": "sink", "capacity": 64, "slot_size": 64},
    ],
}

Edit = Callable[[dict[str, Any]], None]


def _raw(edit: Edit | None = None) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    if edit is not None:
        edit(raw)
    return raw


def _parse(raw: dict[str, Any]) -> PipelineConfig:
    return parse_config(raw, allowed_cpus=CPUS)


def _error(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        _parse(raw)
    assert str(exc.value) == f"{exc.value.key}: {exc.value.reason}"
    return exc.value


def _write(tmp_path: Path, text: str, name: str = "pipeline.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# ----------------------------------------------------------------------------- valid configs
def test_should_parse_a_valid_config_into_frozen_dataclasses() -> None:
    config = _parse(_raw())
    assert config.name == "unit"
    assert [s.name for s in config.stages] == ["source", "relay", "sink"]
    source = config.stage("source")
    assert source.class_path == "stages.probe:ProbeSource"
    assert (source.agent_class, source.drive) == (ProbeSource, Drive.DUTY_CYCLE)
    assert source.params == ProbeSource.Params(rate=1000)
    assert config.stage("relay").params == ProbeRelay.Params()
    assert config.stage("sink").params == ProbeSink.Params()
    assert (source.cpu, source.idle, source.realtime_priority, source.mlockall) == ("auto", "auto", None, False)
    assert config.rings == (
        RingConfig(name="source-relay", producer="source", consumer="relay", capacity=64, slot_size=64),
        RingConfig(name="relay-sink", producer="relay", consumer="sink", capacity=64, slot_size=64),
    )
    assert (config.on_failure, config.max_restarts, config.heartbeat_timeout_ms) == ("stop", 3, 3000)
    assert config.idle == IdleSettings()
    with pytest.raises(AttributeError):
        config.name = "other"  # type: ignore[misc]


def test_should_answer_topology_questions() -> None:
    config = _parse(_raw())
    assert config.depths() == {"source": 0, "relay": 1, "sink": 2}
    assert [r.name for r in config.inputs_of("relay")] == ["source-relay"]
    assert [r.name for r in config.outputs_of("relay")] == ["relay-sink"]
    assert config.inputs_of("source") == ()
    assert config.stage_index("sink") == 2
    with pytest.raises(KeyError) as exc:
        config.stage("nope")
    assert exc.value.args[0] == "no stage 'nope' in pipeline 'unit'"


def _fan_out(raw: dict[str, Any]) -> None:
    """source broadcasts ``md`` to relay and sink; relay -> sink stays an SPSC ring."""
    raw["rings"][0] = {"name": "md", "kind": "broadcast", "from": "source", "to": ["relay", "sink"], "capacity": 64}


def test_should_expand_a_broadcast_ring_into_one_edge_per_receiver() -> None:
    config = _parse(_raw(_fan_out))
    common = {"producer": "source", "capacity": 64, "slot_size": 128, "kind": "broadcast", "group": "md"}
    assert config.rings == (
        RingConfig(name="md.relay", consumer="relay", receiver=0, **common),
        RingConfig(name="md.sink", consumer="sink", receiver=1, **common),
        RingConfig(name="relay-sink", producer="relay", consumer="sink", capacity=64, slot_size=64),
    )
    assert [r.port_name for r in config.rings] == ["md", "md", "relay-sink"]
    assert [r.is_broadcast for r in config.rings] == [True, True, False]
    assert list(config.ring_groups()) == ["md", "relay-sink"]
    assert config.ring_groups()["md"] == config.rings[:2]
    assert [r.name for r in config.outputs_of("source")] == ["md.relay", "md.sink"]
    assert [r.name for r in config.inputs_of("sink")] == ["md.sink", "relay-sink"]
    assert config.depths() == {"source": 0, "relay": 1, "sink": 1}


def test_should_take_one_receiver_as_a_string_and_name_a_broadcast_ring_after_its_producer() -> None:
    def one(raw: dict[str, Any]) -> None:
        raw["rings"][0] = {"kind": "broadcast", "from": "source", "to": "relay"}

    ring = _parse(_raw(one)).rings[0]
    assert (ring.name, ring.group, ring.consumer, ring.receiver) == (
        "source-broadcast.relay",
        "source-broadcast",
        "relay",
        0,
    )
    assert _parse(_raw(_set("rings.0.kind", "spsc"))).rings == _parse(_raw()).rings


def test_should_cap_depths_at_the_last_hop_slot() -> None:
    names = [f"s{i}" for i in range(6)]

    def chain(raw: dict[str, Any]) -> None:
        raw["stages"] = {n: {"class": "stages.probe:ProbeRelay"} for n in names}
        raw["rings"] = [{"from": a, "to": b} for a, b in itertools.pairwise(names)]

    assert list(_parse(_raw(chain)).depths().values()) == [0, 1, 2, 3, 3, 3]


def test_should_parse_explicit_pipeline_idle_and_stage_settings() -> None:
    def explicit(raw: dict[str, Any]) -> None:
        raw["pipeline"].update(on_failure="restart", max_restarts=5, heartbeat_timeout_ms=500)
        raw["idle"] = {"max_spins": 10, "park_timeout_ns": 5000}
        raw["stages"]["source"].update(cpu=1, idle="backoff", realtime_priority=50, mlockall=True)
        raw["stages"]["sink"].update(cpu="none", idle="blocking")
        raw["rings"][0]["name"] = "feed"

    config = _parse(_raw(explicit))
    assert (config.on_failure, config.max_restarts, config.heartbeat_timeout_ms) == ("restart", 5, 500)
    assert config.idle == IdleSettings(max_spins=10, park_timeout_ns=5000)
    source = config.stage("source")
    assert (source.cpu, source.idle, source.realtime_priority, source.mlockall) == (1, "backoff", 50, True)
    assert (config.stage("sink").cpu, config.stage("sink").idle) == ("none", "blocking")
    assert config.rings[0].name == "feed"


def test_should_load_the_probe_config_file() -> None:
    config = load_config(PROBE_CONFIG)
    assert config.name == "probe"
    assert [s.name for s in config.stages] == ["source", "relay1", "relay2", "relay3", "sink"]
    assert config.stage("source").params == ProbeSource.Params(rate=20000)
    assert [(r.producer, r.consumer, r.capacity, r.slot_size) for r in config.rings] == [
        ("source", "relay1", 4096, 64),
        ("relay1", "relay2", 4096, 64),
        ("relay2", "relay3", 4096, 64),
        ("relay3", "sink", 4096, 64),
    ]
    assert config.on_failure == "restart"
    assert config.source == str(PROBE_CONFIG.resolve())


def test_should_embed_the_whole_trading_system_as_the_default() -> None:
    assert default_config_path().resolve() == DEFAULT_CONFIG.resolve()
    config = load_config(default_config_path())
    assert config.name == "default"
    names = [s.name for s in config.stages]
    for exchange_stage in ("engine_BTCUSDT", "engine_ETHUSDT", "accounting", "publisher", "gateway", "flow"):
        assert exchange_stage in names
    assert names[-5:] == ["feed", "book", "strategy", "risk", "execution"]
    execution = config.stage("execution").params
    assert (execution.mode, execution.ws_api_url) == ("live", "ws://127.0.0.1:19544/ws-api/v3")
    assert execution.private_key_path == REPO / "configs" / "keys" / "loopback-trader.pem"
    assert execution.private_key_path.is_file()  # found beside the config, whatever the working directory


def test_should_load_the_market_data_replay_config_file() -> None:
    config = load_config(MARKETDATA_CONFIG)
    assert config.name == "marketdata-replay"
    assert [s.name for s in config.stages] == ["venue", "feed", "book", "sink"]
    rings = [(r.producer, r.consumer, r.slot_size) for r in config.rings]
    assert rings == [("feed", "book", 128), ("book", "sink", 768)]
    assert config.stage("feed").params.venue == "binance"
    assert [s.drive for s in config.stages] == [Drive.EVENT_LOOP, Drive.EVENT_LOOP, Drive.DUTY_CYCLE, Drive.DUTY_CYCLE]


def test_should_load_a_toml_file_and_record_its_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(
        tmp_path,
        """
        [pipeline]
        name = "from-file"

        [stages.source]
        class = "stages.probe:ProbeSource"
        cpu = "none"
        params = { rate = 0, max_burst = 8 }

        [stages.sink]
        class = "stages.probe:ProbeSink"

        [[rings]]
        from = "source"
        to = "sink"
        capacity = 1024
        slot_size = 64
        """,
    )
    monkeypatch.chdir(tmp_path)
    config = load_config("pipeline.toml")
    assert config.source == str(path.resolve())
    assert config.stage("source").params == ProbeSource.Params(rate=0, max_burst=8)
    assert config.rings[0].name == "source-sink"


def test_should_rename_a_pipeline_with_a_valid_name_only() -> None:
    config = _parse(_raw())
    assert config.with_name("other").name == "other"
    with pytest.raises(ValueError, match=r"^pipeline name 'a\.b' must be 1-48 characters of A-Z a-z 0-9 _ -$"):
        config.with_name("a.b")


# ----------------------------------------------------------------------------- errors
def _set(path: str, value: Any) -> Edit:
    """An edit that sets ``raw[a][b]... = value`` along a dotted path (ints index lists)."""

    def edit(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _delete(path: str) -> Edit:
    def edit(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[part]
        del node[last]

    return edit


def _add_stage(name: str, table: dict[str, Any]) -> Edit:
    return _set(f"stages.{name}", table)


def _broadcast(to: Any) -> Edit:
    """Make ring 0 a broadcast ring ``md`` from source to ``to``."""
    return _set("rings.0", {"name": "md", "kind": "broadcast", "from": "source", "to": to, "capacity": 64})


STAGE_KEYS = "class, cpu, idle, mlockall, params, process, realtime_priority"
NAME_RULE = "must be 1-48 characters of A-Z a-z 0-9 _ -"

ERROR_CASES: list[tuple[str, Edit, str, str]] = [
    (
        "unknown top-level key",
        _set("pipelines", {}),
        "pipelines",
        "unknown key (allowed: exchange, idle, instruments, pipeline, rings, stages)",
    ),
    (
        "unknown pipeline key",
        _set("pipeline.nmae", "x"),
        "pipeline.nmae",
        "unknown key (allowed: heartbeat_timeout_ms, max_consecutive_errors, max_restarts, name, on_failure, "
        "restart_window_s, startup_timeout_ms, stop_timeout_ms)",
    ),
    (
        "missing pipeline name",
        _delete("pipeline.name"),
        "pipeline.name",
        "missing: every pipeline needs a name (it names its shared memory)",
    ),
    (
        "bad pipeline name characters",
        _set("pipeline.name", "my pipe"),
        "pipeline.name",
        f"pipeline name 'my pipe' {NAME_RULE}",
    ),
    ("pipeline name with a dot", _set("pipeline.name", "a.b"), "pipeline.name", f"pipeline name 'a.b' {NAME_RULE}"),
    (
        "pipeline name with a newline",
        _set("pipeline.name", "p\n"),
        "pipeline.name",
        f"pipeline name 'p\\n' {NAME_RULE}",
    ),
    ("pipeline name not a string", _set("pipeline.name", 7), "pipeline.name", "must be a string, got 7"),
    ("pipeline not a table", _set("pipeline", "x"), "pipeline", "must be a table, got str"),
    (
        "bad failure policy",
        _set("pipeline.on_failure", "retry"),
        "pipeline.on_failure",
        "must be one of restart, restart-pipeline, stop, got 'retry'",
    ),
    ("negative max_restarts", _set("pipeline.max_restarts", -1), "pipeline.max_restarts", "must be >= 0, got -1"),
    (
        "restart window not positive",
        _set("pipeline.restart_window_s", 0),
        "pipeline.restart_window_s",
        "must be > 0, got 0",
    ),
    (
        "restart window not a number",
        _set("pipeline.restart_window_s", "1m"),
        "pipeline.restart_window_s",
        "must be float, got '1m'",
    ),
    (
        "too short a heartbeat timeout",
        _set("pipeline.heartbeat_timeout_ms", 5),
        "pipeline.heartbeat_timeout_ms",
        "must be >= 10, got 5",
    ),
    (
        "boolean where an integer is expected",
        _set("pipeline.max_restarts", True),
        "pipeline.max_restarts",
        "must be an integer, got True",
    ),
    (
        "unknown idle key",
        _set("idle", {"spins": 1}),
        "idle.spins",
        "unknown key (allowed: max_park_ns, max_spins, max_yields, min_park_ns, park_timeout_ns)",
    ),
    (
        "idle settings rejected",
        _set("idle", {"min_park_ns": 0}),
        "idle",
        "min_park_ns must be > 0 and <= max_park_ns",
    ),
    ("no stages", _set("stages", {}), "stages", "missing: a pipeline needs at least one stage"),
    (
        "bad stage name",
        _add_stage("my stage", {"class": "x:Y"}),
        "stages.my stage",
        f"stage name 'my stage' {NAME_RULE}",
    ),
    (
        "stage name too long for the control file",
        _add_stage("s" * 33, {"class": "stages.probe:ProbeSink"}),
        f"stages.{'s' * 33}",
        f"stage name {'s' * 33!r} is longer than 32 characters",
    ),
    ("stage not a table", _set("stages.sink", 3), "stages.sink", "must be a table, got int"),
    (
        "unknown stage key",
        _set("stages.source.klass", "x"),
        "stages.source.klass",
        f"unknown key (allowed: {STAGE_KEYS})",
    ),
    (
        "missing class",
        _delete("stages.relay.class"),
        "stages.relay.class",
        'missing: name the stage class as "module:Class"',
    ),
    (
        "class not module:Class",
        _set("stages.source.class", "stages.probe.ProbeSource"),
        "stages.source.class",
        "must be \"module:Class\", got 'stages.probe.ProbeSource'",
    ),
    (
        "class with an empty module",
        _set("stages.source.class", ":ProbeSource"),
        "stages.source.class",
        "must be \"module:Class\", got ':ProbeSource'",
    ),
    (
        "module not importable",
        _set("stages.source.class", "stages.nope:ProbeSource"),
        "stages.source.class",
        "cannot import module 'stages.nope': No module named 'stages.nope'",
    ),
    (
        "class missing from its module",
        _set("stages.source.class", "stages.probe:NoSuchStage"),
        "stages.source.class",
        "module 'stages.probe' has no class 'NoSuchStage'",
    ),
    (
        "name that is not a class",
        _set("stages.source.class", "stages.probe:time"),
        "stages.source.class",
        "module 'stages.probe' has no class 'time'",
    ),
    (
        "class that is not a stage",
        _set("stages.source.class", "hftpipe.runtime.config:StageConfig"),
        "stages.source.class",
        "hftpipe.runtime.config:StageConfig is neither an Agent nor an AsyncAgent",
    ),
    (
        "unknown param",
        _set("stages.source.params.burst", 4),
        "stages.source.params.burst",
        "unknown key (allowed: instrument, max_burst, rate)",
    ),
    (
        "string param where int expected",
        _set("stages.source.params.rate", "fast"),
        "stages.source.params.rate",
        "must be int, got 'fast'",
    ),
    (
        "float param where int expected",
        _set("stages.source.params.rate", 1.5),
        "stages.source.params.rate",
        "must be int, got 1.5",
    ),
    (
        "bool param where int expected",
        _set("stages.source.params.rate", True),
        "stages.source.params.rate",
        "must be int, got True",
    ),
    (
        "param rejected by Params.__post_init__",
        _set("stages.source.params.rate", -1),
        "stages.source.params",
        "rate must be >= 0 (0 = unpaced)",
    ),
    (
        "param check raising a ConfigError names the param",
        _set("stages.relay.params", {"batch": 0}),
        "stages.relay.params.batch",
        "must be >= 1, got 0",
    ),
    (
        "instrument beyond the header's u32",
        _set("stages.source.params.instrument", 2**32),
        "stages.source.params.instrument",
        "must be 0..4294967295, got 4294967296",
    ),
    ("params not a table", _set("stages.source.params", 5), "stages.source.params", "must be a table, got int"),
    (
        "params for a class without Params",
        _add_stage("bare", {"class": "hftpipe.runtime.agent:Agent", "params": {"x": 1}}),
        "stages.bare.params",
        "Agent takes no params",
    ),
    (
        "cpu not available",
        _set("stages.source.cpu", 7),
        "stages.source.cpu",
        "core 7 is not available to this process (cores: 0,1)",
    ),
    (
        "cpu neither a number nor auto/none",
        _set("stages.source.cpu", "two"),
        "stages.source.cpu",
        'must be a core number, "auto" or "none", got \'two\'',
    ),
    (
        "two stages on the same cpu",
        lambda raw: (_set("stages.source.cpu", 1)(raw), _set("stages.sink.cpu", 1)(raw)),
        "stages.sink.cpu",
        "core 1 is already given to stage 'source'",
    ),
    (
        "bad idle alias",
        _set("stages.relay.idle", "spin"),
        "stages.relay.idle",
        "must be one of auto, busy-spin, yield, backoff, blocking, got 'spin'",
    ),
    (
        "realtime priority out of range",
        _set("stages.relay.realtime_priority", 0),
        "stages.relay.realtime_priority",
        "must be an integer 1..99 (SCHED_FIFO), got 0",
    ),
    (
        "mlockall not a bool",
        _set("stages.relay.mlockall", "yes"),
        "stages.relay.mlockall",
        "must be true or false, got 'yes'",
    ),
    ("rings not an array", _set("rings", {"from": "a"}), "rings", "must be an array of tables ([[rings]])"),
    (
        "unknown ring key",
        _set("rings.0.size", 8),
        "rings[0].size",
        "unknown key (allowed: capacity, from, kind, name, slot_size, to)",
    ),
    ("ring from a missing stage", _set("rings.1.from", "nowhere"), "rings[1].from", "no stage named 'nowhere'"),
    ("ring to a missing stage", _set("rings.0.to", "nowhere"), "rings[0].to", "no stage named 'nowhere'"),
    ("ring without from", _set("rings.0", {"to": "relay"}), "rings[0].from", "missing: name a stage"),
    ("ring to itself", _set("rings.0.to", "source"), "rings[0]", "a ring must connect two different stages"),
    (
        "capacity not a power of two",
        _set("rings.0.capacity", 1000),
        "rings[0].capacity",
        "must be a power of two <= 16777216, got 1000",
    ),
    (
        "capacity too large",
        _set("rings.0.capacity", 1 << 25),
        "rings[0].capacity",
        "must be a power of two <= 16777216, got 33554432",
    ),
    ("capacity below 2", _set("rings.0.capacity", 1), "rings[0].capacity", "must be >= 2, got 1"),
    (
        "slot size not a multiple of 8",
        _set("rings.0.slot_size", 12),
        "rings[0].slot_size",
        "ring slot size must be a multiple of 8 and >= 8, got 12",
    ),
    ("slot size below 8", _set("rings.0.slot_size", 4), "rings[0].slot_size", "must be >= 8, got 4"),
    (
        "ring bigger than a ring may be",
        _set("rings.0.slot_size", 2147483648),
        "rings[0].slot_size",
        "ring slots may take at most 1073741824 bytes (1 GiB), got capacity 64 x slot size 2147483648 = 137438953472",
    ),
    ("bad ring name", _set("rings.0.name", "a.b"), "rings[0].name", f"ring name 'a.b' {NAME_RULE}"),
    (
        "ring name too long for the control file",
        _set("rings.0.name", "r" * 33),
        "rings[0].name",
        f"ring name {'r' * 33!r} is longer than 32 characters",
    ),
    (
        "duplicate ring name",
        lambda raw: (_set("rings.0.name", "feed")(raw), _set("rings.1.name", "feed")(raw)),
        "rings[1].name",
        "duplicate ring name 'feed'",
    ),
    (
        "unknown ring kind",
        _set("rings.0.kind", "fanout"),
        "rings[0].kind",
        "must be one of spsc, broadcast, got 'fanout'",
    ),
    (
        "receivers listed on an spsc ring",
        _set("rings.0.to", ["relay", "sink"]),
        "rings[0].to",
        'a list of stages needs kind = "broadcast"; an spsc ring has one consumer',
    ),
    (
        "broadcast without receivers",
        _broadcast([]),
        "rings[0].to",
        "a broadcast ring needs at least one receiver",
    ),
    (
        "broadcast without to",
        lambda raw: (_broadcast([])(raw), raw["rings"][0].pop("to")),
        "rings[0].to",
        "missing: name a stage or a list of stages",
    ),
    (
        "broadcast to its own producer",
        _broadcast(["relay", "source"]),
        "rings[0].to[1]",
        "a broadcast ring cannot deliver to its own producer 'source'",
    ),
    (
        "broadcast to its own producer, as a string",
        _broadcast("source"),
        "rings[0].to",
        "a broadcast ring cannot deliver to its own producer 'source'",
    ),
    ("duplicate receiver", _broadcast(["relay", "sink", "relay"]), "rings[0].to[2]", "duplicate receiver 'relay'"),
    (
        "more receivers than a broadcast ring has slots for",
        _broadcast(["relay"] * 17),
        "rings[0].to",
        "a broadcast ring takes at most 16 receivers, got 17",
    ),
    ("receiver that is no stage", _broadcast(["relay", "nowhere"]), "rings[0].to[1]", "no stage named 'nowhere'"),
    ("receiver not a string", _broadcast(["relay", 3]), "rings[0].to[1]", "must be a string, got 3"),
    (
        "receivers neither a stage nor a list",
        _broadcast({"a": "relay"}),
        "rings[0].to",
        "must be a stage or a list of stages, got {'a': 'relay'}",
    ),
    (
        "broadcast receiver row name too long for the control file",
        lambda raw: (_broadcast(["relay"])(raw), _set("rings.0.name", "m" * 27)(raw)),
        "rings[0].name",
        f"receiver 'relay' of ring {'m' * 27!r} is reported as {'m' * 27 + '.relay'!r}, longer than 32 characters:"
        " shorten the ring's name",
    ),
    (
        "broadcast slots over a ring's limit",
        lambda raw: (_broadcast(["relay"])(raw), _set("rings.0.slot_size", 2147483648)(raw)),
        "rings[0].slot_size",
        "broadcast ring slots may take at most 1073741824 bytes (1 GiB), got capacity 64 x slot size 2147483648"
        " = 137438953472",
    ),
    (
        "broadcast ring named like another ring",
        lambda raw: (_broadcast(["relay"])(raw), _set("rings.1.name", "md")(raw)),
        "rings[1].name",
        "duplicate ring name 'md'",
    ),
    (
        "duplicate default ring name",
        lambda raw: raw["rings"].append({"from": "source", "to": "relay"}),
        "rings[2].name",
        "duplicate ring name 'source-relay'",
    ),
]


@pytest.mark.parametrize(("case", "edit", "key", "reason"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_should_name_the_key_and_reason_of_each_config_error(case: str, edit: Edit, key: str, reason: str) -> None:
    error = _error(_raw(edit))
    assert (error.key, error.reason) == (key, reason), case


def _page(size: int) -> int:
    return -(-size // mmap.PAGESIZE) * mmap.PAGESIZE


def test_should_name_the_ring_that_makes_the_pipeline_too_big_for_the_free_shared_memory() -> None:
    config = _parse(_raw())
    control = _page(ControlLayout(len(config.stages), len(config.rings)).size)
    ring = _page(ring_segment_size(64, 64))
    check_shared_memory(config, free_bytes=control + 2 * ring)
    with pytest.raises(ConfigError) as exc:
        check_shared_memory(config, free_bytes=control + 2 * ring - 1)
    assert (exc.value.key, exc.value.reason) == (
        "rings[1]",
        f"ring 'relay-sink' brings the pipeline's shared memory to {control + 2 * ring} bytes,"
        f" more than the {control + 2 * ring - 1} bytes free in /dev/shm",
    )
    with pytest.raises(ConfigError) as exc:
        check_shared_memory(config, free_bytes=control)
    assert exc.value.key == "rings[0]"


def test_should_count_a_broadcast_ring_once_against_the_free_shared_memory() -> None:
    config = _parse(_raw(_fan_out))
    control = _page(ControlLayout(len(config.stages), len(config.rings)).size)
    broadcast = _page(broadcast_segment_size(64, 128, 2))
    ring = _page(ring_segment_size(64, 64))
    check_shared_memory(config, free_bytes=control + broadcast + ring)
    with pytest.raises(ConfigError) as exc:
        check_shared_memory(config, free_bytes=control + broadcast + ring - 1)
    assert exc.value.key == "rings[1]"
    assert exc.value.reason.startswith(
        f"ring 'relay-sink' brings the pipeline's shared memory to {control + broadcast + ring} bytes"
    )
    with pytest.raises(ConfigError) as exc:
        check_shared_memory(config, free_bytes=control + broadcast - 1)
    assert exc.value.key == "rings[0]"
    assert exc.value.reason.startswith("ring 'md' brings")


def test_should_be_a_value_error_carrying_key_and_reason() -> None:
    error = ConfigError("stages.a.cpu", "bad")
    assert isinstance(error, ValueError)
    assert str(error) == "stages.a.cpu: bad"


def test_should_validate_cpus_against_this_process_when_no_cpu_set_is_given() -> None:
    missing = max(os.sched_getaffinity(0)) + 1
    with pytest.raises(ConfigError) as exc:
        parse_config(_raw(_set("stages.source.cpu", missing)))
    assert exc.value.key == "stages.source.cpu"
    assert exc.value.reason.startswith(f"core {missing} is not available to this process (cores: ")


def test_should_reject_a_file_that_is_not_valid_toml(tmp_path: Path) -> None:
    text = '[pipeline\nname = "x"\n'
    path = _write(tmp_path, text)
    with pytest.raises(tomllib.TOMLDecodeError) as toml_error:
        tomllib.loads(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert (exc.value.key, exc.value.reason) == ("file", f"{path} is not valid TOML: {toml_error.value}")


def test_should_reject_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert (exc.value.key, exc.value.reason) == ("file", f"cannot read {path}: No such file or directory")


def test_should_reject_a_directory_as_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    assert (exc.value.key, exc.value.reason) == ("file", f"cannot read {tmp_path}: Is a directory")


def test_should_exit_78_naming_key_and_reason_when_the_cli_gets_a_bad_config(
    tmp_path: Path, hftpipe_cmd: list[str]
) -> None:
    path = _write(
        tmp_path,
        """
        [pipeline]
        name = "bad"

        [stages.source]
        class = "stages.probe:ProbeSource"
        params = { burst = 4 }
        """,
        "BAD.toml",
    )
    result = subprocess.run(
        [*hftpipe_cmd, "run", "-c", str(path)], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == EX_CONFIG == 78
    assert (
        "hftpipe: config error: stages.source.params.burst: unknown key (allowed: instrument, max_burst, rate)"
        in result.stderr
    )


def test_should_default_the_restart_window_and_read_an_explicit_one() -> None:
    assert _parse(_raw()).restart_window_s == 60.0
    config = _parse(_raw(_set("pipeline.restart_window_s", 300)))
    assert (config.max_restarts, config.restart_window_s) == (3, 300.0)


@pytest.mark.parametrize(
    ("param", "value", "reason"),
    [
        ("port", 70000, "must be a TCP port 0..65535, got 70000"),
        ("speed", 0.0, "must be > 0, got 0.0"),
        ("capture", 5, "must be a path (relative to the config file), got 5"),
    ],
)
def test_should_refuse_a_replay_venue_param_out_of_range_naming_it(param: str, value: Any, reason: str) -> None:
    raw = tomllib.loads(MARKETDATA_CONFIG.read_text())
    raw["stages"]["venue"]["params"][param] = value
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, source=str(MARKETDATA_CONFIG), allowed_cpus=CPUS)
    assert (exc.value.key, exc.value.reason) == (f"stages.venue.params.{param}", reason)


@pytest.mark.parametrize(
    ("param", "value", "reason"),
    [
        ("ping_interval_s", 0.0, "must be > 0, got 0.0"),
        ("handover_s", 100.0, "must be <= max_connection_age_s (60.0), got 100.0"),
    ],
)
def test_should_refuse_a_feed_param_out_of_range_naming_it(param: str, value: Any, reason: str) -> None:
    raw = tomllib.loads(MARKETDATA_CONFIG.read_text())
    raw["stages"]["feed"]["params"].update({param: value, "max_connection_age_s": 60.0})
    with pytest.raises(ConfigError) as exc:
        parse_config(raw, source=str(MARKETDATA_CONFIG), allowed_cpus=CPUS)
    assert (exc.value.key, exc.value.reason) == (f"stages.feed.params.{param}", reason)
