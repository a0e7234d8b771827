"""Pipeline configuration: TOML -> frozen, keyword-only dataclasses, validated once.

Unknown keys are rejected, every error names its key (``stages.relay1.cpu``)
and its reason, and the CLI turns a :class:`ConfigError` into exit status 78
(``EX_CONFIG``). Stage classes are named ``"module:Class"``; their
``[stages.NAME.params]`` table is checked against the class's ``Params``
dataclass here, before any process starts. Each ring's size is bounded here
too; whether the whole pipeline fits in ``/dev/shm`` is asked by its owner
just before it creates anything (:func:`check_shared_memory`). A ``Params``
field typed :class:`~pathlib.Path` is given as a string and resolved against
the config file's directory (:mod:`hftpipe.runtime.config_paths`).
"""

from __future__ import annotations

import dataclasses
import mmap
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import UnionType
from typing import Any, Final, Literal, get_args, get_type_hints

from hftpipe.runtime.agent import Agent, AsyncAgent, Drive
from hftpipe.runtime.config_paths import config_dir, resolve_path
from hftpipe.runtime.instruments_config import parse_instruments
from hftpipe.runtime.loader import load_class
from hftpipe.runtime.validation import ConfigError, integer, number, reject_unknown, string, table
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.records import HOP_SLOTS
from hftpipe.substrate.control_layout import NAME_BYTES, ControlLayout
from hftpipe.substrate.idle import IDLE_ALIASES, IdleSettings
from hftpipe.substrate.layout import align_up, is_power_of_two
from hftpipe.substrate.ring_descriptor import MAX_CAPACITY, check_ring_shape, ring_segment_size
from hftpipe.substrate.shm import SHM_DIR, check_name_part

AUTO: Final = "auto"
NO_PINNING: Final = "none"
FAILURE_POLICIES: Final = ("restart", "restart-pipeline", "stop")
CONFIG_SECTIONS_GROUP: Final = "hftpipe.config_sections"
"""Entry-point group of application config tables: name -> ``expand(raw, base_dir) -> raw`` with stages
and rings; ``base_dir``, the config file's directory, is where the table's relative paths start."""
DEFAULT_RESTART_WINDOW_S: Final = 60.0
_CORE_SECTIONS: Final = ("pipeline", "idle", "stages", "rings", "instruments")

CpuSetting = int | Literal["auto", "none"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StageConfig:
    name: str
    class_path: str
    agent_class: type[Agent] | type[AsyncAgent]
    """The class ``class_path`` names, loaded once here: nothing imports it again."""
    cpu: CpuSetting = AUTO
    idle: str = AUTO
    realtime_priority: int | None = None
    mlockall: bool = False
    params: Any = None
    """An instance of the stage class's ``Params`` dataclass."""

    @property
    def drive(self) -> Drive:
        """How the stage is driven (a duty-cycle loop with an idle strategy, or its event loop)."""
        return self.agent_class.drive


@dataclass(frozen=True, slots=True, kw_only=True)
class RingConfig:
    name: str
    producer: str
    consumer: str
    capacity: int = 4096
    slot_size: int = 128


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineConfig:
    name: str
    stages: tuple[StageConfig, ...]
    rings: tuple[RingConfig, ...]
    on_failure: str = "stop"
    max_restarts: int = 3
    """Restarts allowed within ``restart_window_s`` (per stage, or of the pipeline); one more stops it."""
    restart_window_s: float = DEFAULT_RESTART_WINDOW_S
    heartbeat_timeout_ms: int = 3000
    startup_timeout_ms: int = 20000
    stop_timeout_ms: int = 5000
    max_consecutive_errors: int = 1000
    idle: IdleSettings = field(default_factory=IdleSettings)
    instruments: tuple[Instrument, ...] = ()
    """The ``[[instruments]]`` tables (:mod:`hftpipe.runtime.instruments_config`)."""
    source: str = ""
    """The file this was loaded from (absolute), passed on to stage processes."""

    def stage(self, name: str) -> StageConfig:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"no stage {name!r} in pipeline {self.name!r}")

    def stage_index(self, name: str) -> int:
        return [s.name for s in self.stages].index(name)

    def inputs_of(self, stage: str) -> tuple[RingConfig, ...]:
        return tuple(r for r in self.rings if r.consumer == stage)

    def outputs_of(self, stage: str) -> tuple[RingConfig, ...]:
        return tuple(r for r in self.rings if r.producer == stage)

    def depths(self) -> dict[str, int]:
        """Hops from the nearest source (a stage with no inputs), for latency stamps."""
        depth = {s.name: 0 for s in self.stages if not self.inputs_of(s.name)}
        frontier = list(depth)
        while frontier:
            nxt = []
            for stage in frontier:
                for ring in self.outputs_of(stage):
                    if ring.consumer not in depth:
                        depth[ring.consumer] = depth[stage] + 1
                        nxt.append(ring.consumer)
            frontier = nxt
        return {s.name: min(depth.get(s.name, 0), HOP_SLOTS - 1) for s in self.stages}

    def with_name(self, name: str) -> PipelineConfig:
        check_name_part(name, "pipeline name")
        return dataclasses.replace(self, name=name)


# --------------------------------------------------------------------------- parsing


def _cpu(raw: Mapping[str, Any], key: str, allowed_cpus: set[int]) -> CpuSetting:
    value = raw.get("cpu", AUTO)
    if value in (AUTO, NO_PINNING):
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}.cpu", f'must be a core number, "auto" or "none", got {value!r}')
    if value not in allowed_cpus:
        cores = ",".join(str(c) for c in sorted(allowed_cpus))
        raise ConfigError(f"{key}.cpu", f"core {value} is not available to this process (cores: {cores})")
    return value


def build_params(cls: type, raw: Mapping[str, Any], key: str, base_dir: Path | None = None) -> Any:
    """Check ``raw`` against ``cls.Params`` (a frozen dataclass) and build it.

    ``Path`` fields are resolved against ``base_dir`` (the config file's
    directory; the working directory when None). A :class:`ConfigError` that
    ``Params`` raises names its field; it is reported under ``key``. A
    ``Params`` with a classmethod ``from_config(raw, key, base_dir)`` parses
    itself (for params that hold other classes' params, checked with this
    function in turn).
    """
    params_cls: Any = getattr(cls, "Params", None)
    parse_itself = getattr(params_cls, "from_config", None)
    if callable(parse_itself):  # a Params that nests other classes' Params (the strategy stage's)
        return parse_itself(raw, key, base_dir or Path.cwd())
    if not (isinstance(params_cls, type) and dataclasses.is_dataclass(params_cls)):
        if raw:
            raise ConfigError(key, f"{cls.__name__} takes no params")
        return None
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    reject_unknown(raw, set(fields), key)
    hints = get_type_hints(params_cls)
    values = dict(raw)
    for name, value in raw.items():
        expected = hints[name]
        if _is_path(expected):
            if not isinstance(value, str | os.PathLike) or not str(value):
                raise ConfigError(f"{key}.{name}", f"must be a path (relative to the config file), got {value!r}")
            values[name] = resolve_path(value, base_dir or Path.cwd())
            continue
        ok = (
            (expected is float and isinstance(value, int | float) and not isinstance(value, bool))
            or (expected is int and isinstance(value, int) and not isinstance(value, bool))
            or (expected in (str, bool) and isinstance(value, expected))
            or expected not in (int, float, str, bool)
        )
        if not ok:
            raise ConfigError(f"{key}.{name}", f"must be {expected.__name__}, got {value!r}")
    try:
        built: Any = params_cls(**values)
        return built
    except ConfigError as exc:
        raise ConfigError(f"{key}.{exc.key}", exc.reason) from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(key, str(exc)) from exc


def _is_path(hint: Any) -> bool:
    """``Path`` or ``Path | None``."""
    return hint is Path or (isinstance(hint, UnionType) and Path in get_args(hint))


_PIPELINE_KEYS: Final = {
    "name",
    "on_failure",
    "max_restarts",
    "restart_window_s",
    "heartbeat_timeout_ms",
    "startup_timeout_ms",
    "stop_timeout_ms",
    "max_consecutive_errors",
}
_STAGE_KEYS: Final = {"class", "cpu", "idle", "realtime_priority", "mlockall", "params"}
_RING_KEYS: Final = {"name", "from", "to", "capacity", "slot_size"}
_IDLE_KEYS: Final = {f.name for f in dataclasses.fields(IdleSettings)}


def _parse_stage(name: str, raw: Any, allowed_cpus: set[int], base_dir: Path) -> StageConfig:
    key = f"stages.{name}"
    try:
        check_name_part(name, "stage name")
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from exc
    if len(name) > NAME_BYTES:  # the control file's stage table holds 32 bytes
        raise ConfigError(key, f"stage name {name!r} is longer than {NAME_BYTES} characters")
    raw = table(raw, key)
    reject_unknown(raw, _STAGE_KEYS, key)
    if "class" not in raw:
        raise ConfigError(f"{key}.class", 'missing: name the stage class as "module:Class"')
    class_path = string(raw, "class", key, "")
    cls = _agent_class(class_path, f"{key}.class")
    priority = raw.get("realtime_priority")
    if priority is not None and (
        isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 99
    ):
        raise ConfigError(f"{key}.realtime_priority", f"must be an integer 1..99 (SCHED_FIFO), got {priority!r}")
    mlock = raw.get("mlockall", False)
    if not isinstance(mlock, bool):
        raise ConfigError(f"{key}.mlockall", f"must be true or false, got {mlock!r}")
    return StageConfig(
        name=name,
        class_path=class_path,
        agent_class=cls,
        cpu=_cpu(raw, key, allowed_cpus),
        idle=string(raw, "idle", key, AUTO, (AUTO, *IDLE_ALIASES)),
        realtime_priority=priority,
        mlockall=mlock,
        params=build_params(cls, table(raw.get("params", {}), f"{key}.params"), f"{key}.params", base_dir),
    )


def _agent_class(class_path: str, key: str) -> type[Agent] | type[AsyncAgent]:
    cls = load_class(class_path, key)
    if not issubclass(cls, Agent | AsyncAgent):
        raise ConfigError(key, f"{class_path} is neither an Agent nor an AsyncAgent")
    return cls


def _parse_ring(index: int, raw: Any, stage_names: set[str]) -> RingConfig:
    key = f"rings[{index}]"
    raw = table(raw, key)
    reject_unknown(raw, _RING_KEYS, key)
    ends = {}
    for end in ("from", "to"):
        if end not in raw:
            raise ConfigError(f"{key}.{end}", "missing: name a stage")
        value = string(raw, end, key, "")
        if value not in stage_names:
            raise ConfigError(f"{key}.{end}", f"no stage named {value!r}")
        ends[end] = value
    if ends["from"] == ends["to"]:
        raise ConfigError(key, "a ring must connect two different stages")
    name = string(raw, "name", key, f"{ends['from']}-{ends['to']}")
    capacity = integer(raw, "capacity", key, 4096, minimum=2)
    slot_size = integer(raw, "slot_size", key, 128, minimum=8)
    if not is_power_of_two(capacity) or capacity > MAX_CAPACITY:
        raise ConfigError(f"{key}.capacity", f"must be a power of two <= {MAX_CAPACITY}, got {capacity}")
    try:
        check_name_part(name, "ring name")
    except ValueError as exc:
        raise ConfigError(f"{key}.name", str(exc)) from exc
    try:
        check_ring_shape(capacity, slot_size)
    except ValueError as exc:
        raise ConfigError(f"{key}.slot_size", str(exc)) from exc
    if len(name) > NAME_BYTES:  # the control file's ring table holds 32 bytes
        raise ConfigError(f"{key}.name", f"ring name {name!r} is longer than {NAME_BYTES} characters")
    return RingConfig(name=name, producer=ends["from"], consumer=ends["to"], capacity=capacity, slot_size=slot_size)


def parse_config(raw: Mapping[str, Any], source: str = "", allowed_cpus: set[int] | None = None) -> PipelineConfig:
    """``source``: the file ``raw`` was read from; relative paths in it start from its directory."""
    cpus = allowed_cpus if allowed_cpus is not None else set(os.sched_getaffinity(0))
    base_dir = config_dir(source)
    raw = _expand_sections(raw, base_dir)
    pipeline = table(raw.get("pipeline", {}), "pipeline")
    reject_unknown(pipeline, _PIPELINE_KEYS, "pipeline")
    if "name" not in pipeline:
        raise ConfigError("pipeline.name", "missing: every pipeline needs a name (it names its shared memory)")
    name = string(pipeline, "name", "pipeline", "")
    try:
        check_name_part(name, "pipeline name")
    except ValueError as exc:
        raise ConfigError("pipeline.name", str(exc)) from exc

    idle_raw = table(raw.get("idle", {}), "idle")
    reject_unknown(idle_raw, _IDLE_KEYS, "idle")
    defaults = IdleSettings()
    idle_values = {k: integer(idle_raw, k, "idle", getattr(defaults, k)) for k in _IDLE_KEYS}
    try:
        idle = IdleSettings(**idle_values)
    except ValueError as exc:
        raise ConfigError("idle", str(exc)) from exc

    stages_raw = table(raw.get("stages", {}), "stages")
    if not stages_raw:
        raise ConfigError("stages", "missing: a pipeline needs at least one stage")
    stages = tuple(_parse_stage(n, s, cpus, base_dir) for n, s in stages_raw.items())
    names = {s.name for s in stages}

    rings_raw = raw.get("rings", [])
    if not isinstance(rings_raw, list):
        raise ConfigError("rings", "must be an array of tables ([[rings]])")
    rings = tuple(_parse_ring(i, r, names) for i, r in enumerate(rings_raw))
    seen: set[str] = set()
    for i, ring in enumerate(rings):
        if ring.name in seen:
            raise ConfigError(f"rings[{i}].name", f"duplicate ring name {ring.name!r}")
        seen.add(ring.name)
    pinned = [s for s in stages if isinstance(s.cpu, int)]
    for a_i, a in enumerate(pinned):
        for b in pinned[a_i + 1 :]:
            if a.cpu == b.cpu:
                raise ConfigError(f"stages.{b.name}.cpu", f"core {b.cpu} is already given to stage {a.name!r}")

    return PipelineConfig(
        name=name,
        stages=stages,
        rings=rings,
        on_failure=string(pipeline, "on_failure", "pipeline", "stop", FAILURE_POLICIES),
        max_restarts=integer(pipeline, "max_restarts", "pipeline", 3),
        restart_window_s=number(pipeline, "restart_window_s", "pipeline", DEFAULT_RESTART_WINDOW_S),
        heartbeat_timeout_ms=integer(pipeline, "heartbeat_timeout_ms", "pipeline", 3000, minimum=10),
        startup_timeout_ms=integer(pipeline, "startup_timeout_ms", "pipeline", 20000, minimum=100),
        stop_timeout_ms=integer(pipeline, "stop_timeout_ms", "pipeline", 5000, minimum=10),
        max_consecutive_errors=integer(pipeline, "max_consecutive_errors", "pipeline", 1000, minimum=1),
        idle=idle,
        instruments=parse_instruments(raw.get("instruments")),
        source=source,
    )


def shm_free_bytes() -> int:
    fs = os.statvfs(SHM_DIR)
    return fs.f_bavail * fs.f_frsize


def check_shared_memory(config: PipelineConfig, free_bytes: int | None = None) -> None:
    """Refuse a pipeline whose segments need more than ``/dev/shm`` has free, naming the ring that tips it.

    tmpfs hands out pages only when they are touched, so an oversized ring is
    created without complaint and its producer dies of SIGBUS later. Asked
    by the owner just before it creates the segments (after removing a dead
    owner's), not when a config is loaded: a stage loads the same config while
    the pipeline's own segments already take their room.
    """
    free = shm_free_bytes() if free_bytes is None else free_bytes
    total = align_up(ControlLayout(len(config.stages), len(config.rings)).size, mmap.PAGESIZE)
    if total > free:
        raise ConfigError(
            "stages", f"the control file needs {total} bytes, more than the {free} bytes free in {SHM_DIR}"
        )
    for i, ring in enumerate(config.rings):
        total += align_up(ring_segment_size(ring.capacity, ring.slot_size), mmap.PAGESIZE)
        if total > free:
            raise ConfigError(
                f"rings[{i}]",
                f"ring {ring.name!r} brings the pipeline's shared memory to {total} bytes,"
                f" more than the {free} bytes free in {SHM_DIR}",
            )


def _expand_sections(raw: Mapping[str, Any], base_dir: Path) -> Mapping[str, Any]:
    """Hand each application table (``[exchange]``, ...) to the expander its application registered.

    An expander turns its table into ordinary ``stages`` and ``rings``, so the
    rest of this module knows no application; ``base_dir`` is where the
    table's relative paths start. Unknown top-level keys are refused, naming
    the ones that are allowed.
    """
    expanders = registered_sections()
    reject_unknown(raw, {*_CORE_SECTIONS, *expanders}, "")
    for section in [k for k in raw if k in expanders]:
        expand = expanders[section].load()
        raw = expand(raw, base_dir)
    return raw


def registered_sections() -> dict[str, EntryPoint]:
    """Application config tables by name (``hftpipe.config_sections`` entry points)."""
    return {ep.name: ep for ep in entry_points(group=CONFIG_SECTIONS_GROUP)}


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A config file's TOML; an unreadable or malformed file is a :class:`ConfigError` on ``file``."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError("file", f"cannot read {file}: {exc.strerror}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("file", f"{file} is not valid TOML: {exc}") from exc


def load_config(path: str | os.PathLike[str]) -> PipelineConfig:
    return parse_config(read_toml(path), source=str(Path(path).resolve()))


def probe_config_path() -> Path:
    """The 5-stage latency probe, beside the default: the benchmark topology."""
    return default_config_path().parent / "probe.toml"


def packaged_config_path(file_name: str) -> Path:
    """An embedded config: inside the wheel, or the source checkout's ``configs/``."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "_configs" / file_name
    if packaged.exists():
        return packaged
    return package.parent / "configs" / file_name


def default_config_path() -> Path:
    """The embedded default (``configs/default.toml``)."""
    return packaged_config_path("default.toml")
