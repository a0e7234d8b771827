"""wiring.py: a producer whose consumer runs in its own composite process rings that process's doorbell in
process (no semaphore post); a consumer in another process is still rung by its process's semaphore."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import posix_ipc
import pytest

from hftpipe.runtime.config import PipelineConfig, load_config
from hftpipe.runtime.context import StageContext
from hftpipe.runtime.wiring import OwnedObjects, create_pipeline_objects, doorbell_name, open_stage_context
from hftpipe.substrate.shared_doorbell import SharedDoorbell
from tests.integration.probe_config import write_probe_config

RELAYS = ("relay1", "relay2", "relay3")
NO_WAKE_WITHOUT_POST_S = 60.0
"""The park ends only by a post or an in-process wake-up: a lost one hangs (and the wait_for bound fails it)."""
RECORD = bytes(64)


@pytest.fixture
def pipeline(tmp_path: Path, pipeline_name: str) -> Iterator[tuple[PipelineConfig, OwnedObjects]]:
    """source -> relay1 -> relay2 -> relay3 -> sink, the relays one process ("relays"): objects created here."""
    in_relays = {relay: ('process = "relays"',) for relay in RELAYS}
    config = load_config(write_probe_config(tmp_path, pipeline_name, stage_settings=in_relays))
    owned = create_pipeline_objects(config)
    try:
        yield config, owned
    finally:
        owned.destroy()


def test_should_wake_a_sibling_in_process_and_a_consumer_elsewhere_by_its_semaphore(
    pipeline: tuple[PipelineConfig, OwnedObjects],
) -> None:
    config, owned = pipeline
    relays_bell = posix_ipc.Semaphore(doorbell_name(config.name, "relays"))
    sink_bell = posix_ipc.Semaphore(doorbell_name(config.name, "sink"))
    doorbell = SharedDoorbell(relays_bell, NO_WAKE_WITHOUT_POST_S)
    contexts: dict[str, StageContext] = {}
    try:
        for stage in RELAYS:
            contexts[stage] = open_stage_context(config, owned.control, stage, doorbell)
        for stage in ("source", "sink"):
            contexts[stage] = open_stage_context(config, owned.control, stage)
        relay2_in = contexts["relay2"].inputs["relay1-relay2"].ring

        async def in_process() -> None:
            waiter = asyncio.create_task(doorbell.wait([relay2_in]))
            while doorbell.waiters < 1:
                await asyncio.sleep(0)
            assert contexts["relay1"].outputs["relay1-relay2"].offer(RECORD)
            await asyncio.wait_for(waiter, timeout=30)

        async def main() -> None:
            try:
                await in_process()
            finally:
                relays_bell.release()  # end the worker's park, so the loop's executor can shut down

        asyncio.run(main())
        assert (doorbell.local_wakes, doorbell.posts) == (1, 0)
        assert doorbell.parks == 1  # one park, which no post ended while the waiter waited
        assert relays_bell.value == 0
        # Into the composite from another process (source), and out of it to another process (sink): posts.
        contexts["relay1"].inputs["source-relay1"].ring.set_parked(True)
        assert contexts["source"].outputs["source-relay1"].offer(RECORD)
        assert relays_bell.value == 1
        contexts["sink"].inputs["relay3-sink"].ring.set_parked(True)
        assert contexts["relay3"].outputs["relay3-sink"].offer(RECORD)
        assert sink_bell.value == 1
        assert (doorbell.local_wakes, doorbell.posts) == (1, 0)
    finally:
        for ctx in contexts.values():
            ctx.close()
        doorbell.close()
        sink_bell.close()
