"""How a pipeline's shared objects are named, created by the owner and opened by stages.

The owner creates the control file, one ring segment per ``[[rings]]`` entry
and one doorbell semaphore per stage that has input rings. A stage process
opens only what its config says it touches: its input rings (consumer end),
its output rings (producer end, with the consumer's doorbell attached) and
its own doorbell.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import posix_ipc

from hftpipe.runtime.config import PipelineConfig
from hftpipe.runtime.context import StageContext
from hftpipe.runtime.ports import InputPort
from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.substrate.control import ControlFile, RingEntry
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ring import Ring
from hftpipe.substrate.shm import create_semaphore, segment_name, unlink_semaphore


def ring_segment_name(pipeline: str, ring: str) -> str:
    return segment_name(pipeline, "ring", ring)


def doorbell_name(pipeline: str, stage: str) -> str:
    return segment_name(pipeline, "bell", stage)


@dataclass
class OwnedObjects:
    """Everything the owner created; ``destroy`` unlinks it all."""

    control: ControlFile
    rings: dict[str, Ring] = field(default_factory=dict)
    doorbells: list[str] = field(default_factory=list)

    def destroy(self) -> None:
        for ring in self.rings.values():
            ring.close()
            ring.unlink()
        for name in self.doorbells:
            unlink_semaphore(name)
        self.control.close()
        self.control.segment.unlink()


def create_pipeline_objects(config: PipelineConfig) -> OwnedObjects:
    depths = config.depths()
    index = {s.name: i for i, s in enumerate(config.stages)}
    entries = [
        RingEntry(r.name, r.capacity, r.slot_size, index[r.producer], index[r.consumer], depths[r.producer])
        for r in config.rings
    ]
    owned = OwnedObjects(ControlFile.create(config.name, [s.name for s in config.stages], entries))
    try:
        for ring in config.rings:
            segment = ring_segment_name(config.name, ring.name)
            owned.rings[ring.name] = Ring.create(segment, ring.capacity, ring.slot_size)
        for stage in config.stages:
            if config.inputs_of(stage.name):
                name = doorbell_name(config.name, stage.name)
                create_semaphore(name)
                owned.doorbells.append(name)
    except BaseException:
        owned.destroy()
        raise
    return owned


def open_stage_context(config: PipelineConfig, control: ControlFile, stage: str) -> StageContext:
    """Attach what ``stage`` uses; on any failure, release what was already opened."""
    depths = config.depths()
    ring_index = {entry.name: i for i, entry in enumerate(control.rings)}
    ctx = StageContext.of(control, stage, depths[stage], config.stage(stage).params)
    ctx.instruments = InstrumentRegistry(config.instruments)
    with _closing_on_error(ctx):
        for ring_cfg in config.inputs_of(stage):
            ring = Ring.attach(ring_segment_name(config.name, ring_cfg.name))
            ctx.inputs[ring_cfg.name] = InputPort(
                ring,
                control.hop_histogram(ring_index[ring_cfg.name]),
                depths[ring_cfg.producer],
                ctx.counter(CounterKind.MESSAGES_IN),
            )
        for ring_cfg in config.outputs_of(stage):
            ring = Ring.attach(ring_segment_name(config.name, ring_cfg.name))
            ctx.outputs[ring_cfg.name] = ring
            ring.attach_doorbell(ctx.own(posix_ipc.Semaphore(doorbell_name(config.name, ring_cfg.consumer))))
        if ctx.inputs:
            ctx.doorbell = ctx.own(posix_ipc.Semaphore(doorbell_name(config.name, stage)))
    return ctx


@contextlib.contextmanager
def _closing_on_error(ctx: StageContext) -> Iterator[None]:
    try:
        yield
    except BaseException:
        ctx.close()
        raise
