"""Pipeline configuration: TOML -> frozen, keyword-only dataclasses, validated once.

Unknown keys are rejected, every error names its key (``stages.relay1.cpu``)
and its reason, and the CLI turns a :class:`ConfigError` into exit status 78
(``EX_CONFIG``). Stage classes are named ``"module:Class"``; their
``[stages.NAME.params]`` table is checked against the class's ``Params``
dataclass here, before any process starts. A ``[[rings]]`` entry is an SPSC
ring (``kind = "spsc"``, the default) or a broadcast ring (``kind =
"broadcast"``, ``to`` a list of receivers), which is expanded here into one
:class:`RingConfig` per receiver (see there). Each ring's size is bounded here
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
from hftpipe.runtime.processes import assign_processes
from hftpipe.runtime.validation import ConfigError, integer, number, reject_unknown, string, table
from hftpipe.schema.instruments import Instrument
from hftpipe.schema.records import HOP_SLOTS
from hftpipe.substrate.broadcast_descriptor import MAX_RECEIVERS, broadcast_segment_size, check_broadcast_shape
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

SPSC: Final = "spsc"
BROADCAST: Final = "broadcast"
RING_KINDS: Final = (SPSC, BROADCAST)

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
    process: str = ""
    """The OS process it runs in (:mod:`hftpipe.runtime.processes`): as parsed, ``""`` (its own) or a name;
    once the config is built, always a name (``"auto"`` decided for the host's cores)."""

    @property
    def drive(self) -> Drive:
        """How the stage is driven (a duty-cycle loop with an idle strategy, or its event loop)."""
        return self.agent_class.drive


@dataclass(frozen=True, slots=True, kw_only=True)
class RingConfig:
    """One producer -> consumer edge: an SPSC ring, or one receiver of a broadcast ring.

    A broadcast ring ``md`` from ``book`` to ``strategy`` and ``risk`` is two
    of these, ``md.strategy`` (receiver 0) and ``md.risk`` (receiver 1), both
    with ``group = "md"``: so every edge has its own row in the control file's
    ring table (its hop histogram, position and lost count), and everything
    that walks edges (inputs, outputs, depths, doorbells) needs no special
    case. Both ends call the ring by :attr:`port_name` (``"md"``); the owner
    creates one segment per :attr:`port_name`. A declared name never contains
    a dot, so a receiver's row name never collides with another ring's.
    """

    name: str
    producer: str
    consumer: str
    capacity: int = 4096
    slot_size: int = 128
    kind: str = "spsc"
    """``"spsc"`` or ``"broadcast"``."""
    group: str = ""
    """A broadcast receiver's ring as declared; ``""`` for an SPSC ring."""
    receiver: int = 0
    """A broadcast receiver's index in its ring (its slot in the segment)."""

    @property
    def port_name(self) -> str:
        """What both ends call the ring (``ctx.output_port(...)``, ``ctx.inputs[...]``) and what names its segment."""
        return self.group or self.name

    @property
    def is_broadcast(self) -> bool:
        return self.kind == BROADCAST


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

    def processes(self) -> dict[str, tuple[StageConfig, ...]]:
        """Each OS process by name with the stages it runs (one, or several: a composite), in declared order."""
        groups: dict[str, list[StageConfig]] = {}
        for stage in self.stages:
            groups.setdefault(stage.process, []).append(stage)
        return {name: tuple(members) for name, members in groups.items()}

    def process_stages(self, process: str) -> tuple[StageConfig, ...]:
        stages = self.processes().get(process)
        if stages is None:
            raise KeyError(f"no process {process!r} in pipeline {self.name!r}")
        return stages

    def inputs_of(self, stage: str) -> tuple[RingConfig, ...]:
        return tuple(r for r in self.rings if r.consumer == stage)

    def outputs_of(self, stage: str) -> tuple[RingConfig, ...]:
        return tuple(r for r in self.rings if r.producer == stage)

    def ring_groups(self) -> dict[str, tuple[RingConfig, ...]]:
        """Each declared ring (one shared-memory segment) by :attr:`RingConfig.port_name`, in declared order,
        with its rows: one for an SPSC ring, one per receiver of a broadcast ring."""
        groups: dict[str, list[RingConfig]] = {}
        for ring in self.rings:
            groups.setdefault(ring.port_name, []).append(ring)
        return {name: tuple(rows) for name, rows in groups.items()}

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
_STAGE_KEYS: Final = {"class", "cpu", "idle", "realtime_priority", "mlockall", "params", "process"}
_RING_KEYS: Final = {"name", "from", "to", "capacity", "slot_size", "kind"}
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
    process = string(raw, "process", key, "")
    if "process" in raw:
        try:
            check_name_part(process, "process name")
        except ValueError as exc:
            raise ConfigError(f"{key}.process", str(exc)) from exc
    return StageConfig(
        name=name,
        class_path=class_path,
        agent_class=cls,
        cpu=_cpu(raw, key, allowed_cpus),
        idle=string(raw, "idle", key, AUTO, (AUTO, *IDLE_ALIASES)),
        realtime_priority=priority,
        mlockall=mlock,
        params=build_params(cls, table(raw.get("params", {}), f"{key}.params"), f"{key}.params", base_dir),
        process=process,
    )


def _agent_class(class_path: str, key: str) -> type[Agent] | type[AsyncAgent]:
    cls = load_class(class_path, key)
    if not issubclass(cls, Agent | AsyncAgent):
        raise ConfigError(key, f"{class_path} is neither an Agent nor an AsyncAgent")
    return cls


def _parse_ring(index: int, raw: Any, stage_names: set[str]) -> tuple[RingConfig, ...]:
    """One ``[[rings]]`` entry: one :class:`RingConfig` (SPSC), or one per receiver (broadcast)."""
    key = f"rings[{index}]"
    raw = table(raw, key)
    reject_unknown(raw, _RING_KEYS, key)
    kind = string(raw, "kind", key, SPSC, RING_KINDS)
    if "from" not in raw:
        raise ConfigError(f"{key}.from", "missing: name a stage")
    producer = _stage_ref(raw["from"], f"{key}.from", stage_names)
    if "to" not in raw:
        raise ConfigError(f"{key}.to", "missing: name a stage" + (" or a list of stages" if kind == BROADCAST else ""))
    if kind == BROADCAST:
        consumers = _receivers(raw["to"], f"{key}.to", producer, stage_names)
    else:
        if isinstance(raw["to"], list):
            raise ConfigError(f"{key}.to", 'a list of stages needs kind = "broadcast"; an spsc ring has one consumer')
        consumers = (_stage_ref(raw["to"], f"{key}.to", stage_names),)
        if consumers[0] == producer:
            raise ConfigError(key, "a ring must connect two different stages")
    default_name = f"{producer}-{consumers[0]}" if kind == SPSC else f"{producer}-{BROADCAST}"
    name = string(raw, "name", key, default_name)
    capacity = integer(raw, "capacity", key, 4096, minimum=2)
    slot_size = integer(raw, "slot_size", key, 128, minimum=8)
    if not is_power_of_two(capacity) or capacity > MAX_CAPACITY:
        raise ConfigError(f"{key}.capacity", f"must be a power of two <= {MAX_CAPACITY}, got {capacity}")
    try:
        check_name_part(name, "ring name")
    except ValueError as exc:
        raise ConfigError(f"{key}.name", str(exc)) from exc
    try:
        if kind == BROADCAST:
            check_broadcast_shape(capacity, slot_size, len(consumers))
        else:
            check_ring_shape(capacity, slot_size)
    except ValueError as exc:
        raise ConfigError(f"{key}.slot_size", str(exc)) from exc
    if len(name) > NAME_BYTES:  # the control file's ring table holds 32 bytes
        raise ConfigError(f"{key}.name", f"ring name {name!r} is longer than {NAME_BYTES} characters")
    if kind == SPSC:
        consumer = consumers[0]
        return (RingConfig(name=name, producer=producer, consumer=consumer, capacity=capacity, slot_size=slot_size),)
    rows = []
    for receiver, consumer in enumerate(consumers):
        row = f"{name}.{consumer}"
        if len(row) > NAME_BYTES:
            raise ConfigError(
                f"{key}.name",
                f"receiver {consumer!r} of ring {name!r} is reported as {row!r}, longer than {NAME_BYTES} characters:"
                " shorten the ring's name",
            )
        rows.append(
            RingConfig(
                name=row,
                producer=producer,
                consumer=consumer,
                capacity=capacity,
                slot_size=slot_size,
                kind=BROADCAST,
                group=name,
                receiver=receiver,
            )
        )
    return tuple(rows)


def _stage_ref(value: Any, key: str, stage_names: set[str]) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a string, got {value!r}")
    if value not in stage_names:
        raise ConfigError(key, f"no stage named {value!r}")
    return value


def _receivers(value: Any, key: str, producer: str, stage_names: set[str]) -> tuple[str, ...]:
    """A broadcast ring's ``to``: one stage or a list of 1..MAX_RECEIVERS distinct stages, none its producer."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list):
        raise ConfigError(key, f"must be a stage or a list of stages, got {value!r}")
    if not names:
        raise ConfigError(key, "a broadcast ring needs at least one receiver")
    if len(names) > MAX_RECEIVERS:
        raise ConfigError(key, f"a broadcast ring takes at most {MAX_RECEIVERS} receivers, got {len(names)}")
    seen: set[str] = set()
    for i, name in enumerate(names):
        at = key if isinstance(value, str) else f"{key}[{i}]"
        _stage_ref(name, at, stage_names)
        if name == producer:
            raise ConfigError(at, f"a broadcast ring cannot deliver to its own producer {producer!r}")
        if name in seen:
            raise ConfigError(at, f"duplicate receiver {name!r}")
        seen.add(name)
    return tuple(names)


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
    declared = [_parse_ring(i, r, names) for i, r in enumerate(rings_raw)]
    seen: set[str] = set()
    for i, rows in enumerate(declared):
        ring_name = rows[0].port_name  # a receiver's row name has a dot, which a declared name never has
        if ring_name in seen:
            raise ConfigError(f"rings[{i}].name", f"duplicate ring name {ring_name!r}")
        seen.add(ring_name)
    rings = tuple(row for rows in declared for row in rows)
    process_of = assign_processes(stages, rings, len(cpus))
    stages = tuple(dataclasses.replace(s, process=process_of[s.name]) for s in stages)
    pinned = [s for s in stages if isinstance(s.cpu, int)]
    for a_i, a in enumerate(pinned):
        for b in pinned[a_i + 1 :]:
            if a.cpu == b.cpu and a.process != b.process:
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
    for i, (name, rows) in enumerate(config.ring_groups().items()):
        ring = rows[0]
        if ring.is_broadcast:
            size = broadcast_segment_size(ring.capacity, ring.slot_size, len(rows))
        else:
            size = ring_segment_size(ring.capacity, ring.slot_size)
        total += align_up(size, mmap.PAGESIZE)
        if total > free:
            raise ConfigError(
                f"rings[{i}]",
                f"ring {name!r} brings the pipeline's shared memory to {total} bytes,"
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
