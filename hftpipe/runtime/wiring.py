"""How a pipeline's shared objects are named, created by the owner and opened by stages.

The owner creates the control file, one ring segment per ``[[rings]]`` entry
(an SPSC ring, or a broadcast ring for all its receivers) and one doorbell
semaphore per process whose stages have input rings (a stage alone in its
process: the process is named after it; a composite's stages share one). A
stage opens only what its config says it touches: its input rings (consumer
end; a broadcast receiver by its index, its losses counted into
``lost.<ring>`` and logged), its output rings (producer end, with the
doorbell of each consumer's process attached: in a composite, a consumer in
the producer's own process gets the composite's in-process bell instead of
the semaphore) and its process's doorbell.
Both ends call a ring by its declared name.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import posix_ipc

from hftpipe.runtime.config import PipelineConfig, RingConfig
from hftpipe.runtime.context import StageContext
from hftpipe.runtime.laps import LapReport, lost_counter_label
from hftpipe.runtime.ports import InputPort
from hftpipe.schema.instruments import InstrumentRegistry
from hftpipe.substrate.bell import Bell
from hftpipe.substrate.broadcast import BroadcastReceiver, BroadcastTransmitter
from hftpipe.substrate.control import ControlFile, RingEntry
from hftpipe.substrate.control_layout import RingKind
from hftpipe.substrate.counters import CounterKind
from hftpipe.substrate.ends import ConsumerEnd, ProducerEnd
from hftpipe.substrate.ring import Ring
from hftpipe.substrate.shared_doorbell import SharedDoorbell
from hftpipe.substrate.shm import create_semaphore, segment_name, unlink_semaphore


def ring_segment_name(pipeline: str, ring: str) -> str:
    return segment_name(pipeline, "ring", ring)


def doorbell_name(pipeline: str, process: str) -> str:
    """The doorbell of an OS process (a stage alone in its process: the process has the stage's name)."""
    return segment_name(pipeline, "bell", process)


@dataclass
class OwnedObjects:
    """Everything the owner created; ``destroy`` unlinks it all."""

    control: ControlFile
    rings: dict[str, Ring | BroadcastTransmitter] = field(default_factory=dict)
    """One per declared ring, by its name."""
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
        RingEntry(
            r.name,
            r.capacity,
            r.slot_size,
            index[r.producer],
            index[r.consumer],
            depths[r.producer],
            RingKind.BROADCAST if r.is_broadcast else RingKind.SPSC,
            r.receiver,
            r.group,
        )
        for r in config.rings
    ]
    owned = OwnedObjects(ControlFile.create(config.name, [s.name for s in config.stages], entries))
    try:
        for name, rows in config.ring_groups().items():
            ring = rows[0]
            segment = ring_segment_name(config.name, name)
            if ring.is_broadcast:
                owned.rings[name] = BroadcastTransmitter.create(segment, ring.capacity, ring.slot_size, len(rows))
            else:
                owned.rings[name] = Ring.create(segment, ring.capacity, ring.slot_size)
        for process, members in config.processes().items():
            if any(config.inputs_of(stage.name) for stage in members):
                name = doorbell_name(config.name, process)
                create_semaphore(name)
                owned.doorbells.append(name)
    except BaseException:
        owned.destroy()
        raise
    return owned


def open_stage_context(
    config: PipelineConfig, control: ControlFile, stage: str, doorbell: SharedDoorbell | None = None
) -> StageContext:
    """Attach what ``stage`` uses; on any failure, release what was already opened.

    ``doorbell``: a composite's, which its stages share (the composite closes it); else the stage opens
    its process's semaphore itself when it has inputs."""
    depths = config.depths()
    ring_index = {entry.name: i for i, entry in enumerate(control.rings)}
    ctx = StageContext.of(control, stage, depths[stage], config.stage(stage).params)
    ctx.instruments = InstrumentRegistry(config.instruments)
    with _closing_on_error(ctx):
        for ring_cfg in config.inputs_of(stage):
            ctx.inputs[ring_cfg.port_name] = InputPort(
                _consumer_end(config, ctx, ring_cfg),
                control.hop_histogram(ring_index[ring_cfg.name]),
                depths[ring_cfg.producer],
                ctx.counter(CounterKind.MESSAGES_IN),
            )
        for name, rows in config.ring_groups().items():
            if rows[0].producer == stage:
                ctx.outputs[name] = _producer_end(config, ctx, name, rows, doorbell)
        if doorbell is not None:
            ctx.doorbell = doorbell
        elif ctx.inputs:
            ctx.doorbell = ctx.own(posix_ipc.Semaphore(doorbell_name(config.name, config.stage(stage).process)))
    return ctx


def _consumer_end(config: PipelineConfig, ctx: StageContext, ring: RingConfig) -> ConsumerEnd:
    segment = ring_segment_name(config.name, ring.port_name)
    if not ring.is_broadcast:
        return Ring.attach(segment)
    receiver = BroadcastReceiver.attach(segment, ring.receiver)
    logger = logging.getLogger(f"hftpipe.{config.name}.{ctx.name}")
    lost = ctx.counters.add(lost_counter_label(ring.group))  # there from the start, 0 until a lap
    receiver.on_lap(LapReport(ring.group, lost, ctx.errors, logger))
    return receiver


def _producer_end(
    config: PipelineConfig, ctx: StageContext, name: str, rows: tuple[RingConfig, ...], doorbell: SharedDoorbell | None
) -> ProducerEnd:
    """The producer's end of ring ``name``, ringing each consumer's doorbell (every receiver's, if broadcast).

    ``doorbell``: the producer's composite's; a consumer in that process is rung through it, in process."""
    segment = ring_segment_name(config.name, name)
    if not rows[0].is_broadcast:
        ring = Ring.attach(segment)
        ring.attach_doorbell(_consumer_bell(config, ctx, rows[0], doorbell))
        return ring
    transmitter = BroadcastTransmitter.attach(segment)
    for row in rows:
        transmitter.attach_doorbell(row.receiver, _consumer_bell(config, ctx, row, doorbell))
    return transmitter


def _consumer_bell(
    config: PipelineConfig, ctx: StageContext, ring: RingConfig, doorbell: SharedDoorbell | None
) -> Bell:
    process = config.stage(ring.consumer).process
    if doorbell is not None and process == config.stage(ctx.name).process:
        return doorbell.in_process
    semaphore: Bell = ctx.own(posix_ipc.Semaphore(doorbell_name(config.name, process)))
    return semaphore


@contextlib.contextmanager
def _closing_on_error(ctx: StageContext) -> Iterator[None]:
    try:
        yield
    except BaseException:
        ctx.close()
        raise
