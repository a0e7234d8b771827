"""A stage's view of its pipeline: ports, counters, error log and histograms, nothing else.

Stages never import one another; they meet only through records and rings,
and everything a stage may touch of the shared control file is reached
through its :class:`StageContext`. A stage reads and publishes through its
ports (:meth:`StageContext.input_port`, :meth:`StageContext.output_port`),
which take the hop measurements (:mod:`hftpipe.runtime.ports`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeVar

from hftpipe.runtime.ports import InputPort, OutputPort
from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.counters import Counter, CounterBlock, CounterKind
from hftpipe.substrate.ends import ProducerEnd
from hftpipe.substrate.errorlog import ErrorLog
from hftpipe.substrate.histogram import Histogram
from hftpipe.substrate.shared_doorbell import Doorbell

HISTOGRAM_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
RESERVED_LATENCY_KEYS: Final = frozenset({"hops", "end_to_end", "end_to_end_by_stage"})
"""The run report's own keys under ``latency`` (:mod:`hftpipe.runtime.report`): no histogram takes them."""


class Closeable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closeable)


@dataclass(slots=True)
class StageContext:
    name: str
    index: int
    hop: int
    """This stage's index into ``ts_hop`` (its depth from the source, capped)."""
    control: ControlFile
    inputs: dict[str, InputPort]
    """The rings this stage reads, by ring name (a broadcast ring by its declared name, like its producer)."""
    outputs: dict[str, ProducerEnd]
    """The rings this stage publishes to, by ring name: publish through :meth:`output_port`.
    A broadcast ring is one output, whatever its number of receivers."""
    counters: CounterBlock
    errors: ErrorLog
    end_to_end: Histogram
    params: Any = None
    instruments: InstrumentRegistry = field(default_factory=InstrumentRegistry)
    """The pipeline's ``[[instruments]]``: ids, scales, tick and lot."""
    doorbell: Doorbell | None = None
    """Its process's doorbell: its own semaphore, or (a composite) the one its process's stages share."""
    _owned: list[Closeable] = field(default_factory=list)
    """Closed with the context (see :meth:`own`); the rings are closed through the ports."""
    _output_ports: dict[str, OutputPort] = field(default_factory=dict)
    _histograms: dict[str, Histogram] = field(default_factory=dict)

    @classmethod
    def of(cls, control: ControlFile, name: str, hop: int, params: Any = None) -> StageContext:
        """Stage ``name``'s own slots of ``control`` (counters, error log, end-to-end histogram), no rings yet."""
        index = control.stage_index(name)
        return cls(
            name=name,
            index=index,
            hop=hop,
            control=control,
            inputs={},
            outputs={},
            counters=control.counters(index),
            errors=control.error_log(index),
            end_to_end=control.end_to_end_histogram(index),
            params=params,
        )

    @property
    def halted(self) -> bool:
        """True unless the pipeline is RUNNING: act on nothing irreversible then."""
        return self.control.halted

    def input_port(self, name: str | None = None) -> InputPort:
        """The input ring ``name``; with no name, the stage's only one."""
        return self.inputs[self._ring_name(self.inputs, name, "input")]

    def output_port(self, name: str | None = None) -> OutputPort:
        """The port publishing to output ring ``name`` (with no name, the only one); one per ring."""
        ring_name = self._ring_name(self.outputs, name, "output")
        port = self._output_ports.get(ring_name)
        if port is None:
            port = OutputPort(
                self.outputs[ring_name],
                self.hop,
                self.counter(CounterKind.MESSAGES_OUT),
                self.counter(CounterKind.BACKPRESSURE),
            )
            self._output_ports[ring_name] = port
        return port

    def the_input(self) -> InputPort:
        """The only input port: :meth:`input_port` with no name (the name stages used first)."""
        return self.input_port()

    def the_output(self) -> ProducerEnd:
        """The only output ring, bare: stages not yet publishing through :meth:`output_port` use it."""
        return self.outputs[self._ring_name(self.outputs, None, "output")]

    def _ring_name(self, rings: Mapping[str, object], name: str | None, end: str) -> str:
        if name is None:
            if len(rings) != 1:
                raise RuntimeError(f"stage {self.name!r} needs exactly one {end} ring, has {len(rings)}")
            return next(iter(rings))
        if name not in rings:
            raise RuntimeError(
                f"stage {self.name!r} has no {end} ring {name!r} (it has: {', '.join(sorted(rings)) or 'none'})"
            )
        return name

    def publish_status(self, status: Mapping[str, Any]) -> None:
        """Replace what ``hftpipe stat`` shows as this stage's ``status`` (a small JSON object, < 4 KB)."""
        self.control.status(self.index).write(json.dumps(status, separators=(",", ":"), default=str))

    def histogram(self, name: str) -> Histogram:
        """This stage's latency histogram ``name`` in the control file (one handle per name).

        Readers get it as ``latency.<name>`` (merged with other stages' of the same
        name): e.g. ``order_ack``. A stage has a few (``NAMED_HISTOGRAMS_PER_STAGE``);
        a restarted stage records on into the same one. Names are lower-case
        identifiers other than the report's own keys (``hops``, ``end_to_end``, ...).
        """
        histogram = self._histograms.get(name)
        if histogram is None:
            if not HISTOGRAM_NAME.fullmatch(name) or name in RESERVED_LATENCY_KEYS:
                raise ValueError(
                    f"stage {self.name!r}: histogram name {name!r} must be a lower-case identifier other than "
                    f"{', '.join(sorted(RESERVED_LATENCY_KEYS))}"
                )
            histogram = self.control.named_histogram(self.index, name)
            self._histograms[name] = histogram
        return histogram

    def counter(self, kind: CounterKind) -> Counter:
        return self.counters.standard(kind)

    def own(self, resource: C) -> C:
        """Close ``resource`` (a doorbell semaphore, ...) when this context closes; returns it."""
        self._owned.append(resource)
        return resource

    def close(self) -> None:
        for port in self.inputs.values():
            port.ring.close()
        for ring in self.outputs.values():
            ring.close()
        for resource in self._owned:
            resource.close()
        self._owned.clear()
