"""A stage's view of its pipeline: rings, counters, error log and histograms, nothing else.

Stages never import one another; they meet only through records and rings,
and everything a stage may touch of the shared control file is reached
through its :class:`StageContext`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import posix_ipc

from hftpipe.runtime.ports import InputPort
from hftpipe.substrate.control import ControlFile
from hftpipe.substrate.counters import Counter, CounterBlock, CounterKind
from hftpipe.substrate.errorlog import ErrorLog
from hftpipe.substrate.histogram import Histogram
from hftpipe.substrate.ring import Ring


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
    outputs: dict[str, Ring]
    counters: CounterBlock
    errors: ErrorLog
    end_to_end: Histogram
    params: Any = None
    doorbell: posix_ipc.Semaphore | None = None
    _owned: list[Closeable] = field(default_factory=list)
    """Closed with the context (see :meth:`own`); the rings are closed through the ports."""

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

    def the_input(self) -> InputPort:
        if len(self.inputs) != 1:
            raise RuntimeError(f"stage {self.name!r} needs exactly one input ring, has {len(self.inputs)}")
        return next(iter(self.inputs.values()))

    def the_output(self) -> Ring:
        if len(self.outputs) != 1:
            raise RuntimeError(f"stage {self.name!r} needs exactly one output ring, has {len(self.outputs)}")
        return next(iter(self.outputs.values()))

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
