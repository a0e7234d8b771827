"""The idle strategy of an asyncio stage that also reads rings (the exchange gateway and publisher).

Its event loop must keep serving sockets, so it cannot block in ``do_work``'s
runner. When its input rings are empty it yields to the loop a few times, then
parks on the stage's doorbell with :class:`~hftpipe.substrate.idle.BlockingIdle` (the
same parked-flag protocol, so no post is missed) in a worker thread; with no
doorbell it sleeps, backing off to ``max_sleep_s``. Parks are bounded
(``park_timeout_s``) so a stop is noticed promptly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hftpipe.substrate.ends import ConsumerEnd
from hftpipe.substrate.idle import BlockingIdle, IdleSettings
from hftpipe.substrate.shared_doorbell import Doorbell, SharedDoorbell


class AsyncIdle:
    def __init__(
        self,
        inputs: Sequence[ConsumerEnd],
        doorbell: Doorbell | None,
        *,
        spins: int = 20,
        park_timeout_s: float = 0.05,
        max_sleep_s: float = 0.001,
    ) -> None:
        if spins < 0 or park_timeout_s <= 0 or max_sleep_s <= 0:
            raise ValueError("spins must be >= 0, park_timeout_s and max_sleep_s > 0")
        settings = IdleSettings(max_spins=0, park_timeout_ns=int(park_timeout_s * 1e9))
        self._inputs = tuple(inputs)
        self._shared = doorbell if isinstance(doorbell, SharedDoorbell) else None
        bell = None if self._shared is not None else doorbell
        self._park = BlockingIdle(settings, inputs, bell) if bell is not None else None
        self._spins = spins
        self._max_sleep_s = max_sleep_s
        self._idle = 0
        self._sleep_s = 0.0
        self._shared_waits = 0

    @property
    def parks(self) -> int:
        """How many times the stage waited on its doorbell."""
        return self._park.parks if self._park is not None else self._shared_waits

    async def idle(self, work_count: int) -> None:
        """Call after each poll with how many records it delivered."""
        if work_count > 0:
            self._idle = 0
            self._sleep_s = 0.0
            await asyncio.sleep(0)  # let the connections run between batches
            return
        self._idle += 1
        if self._idle <= self._spins:
            await asyncio.sleep(0)
        elif self._shared is not None:
            self._shared_waits += 1
            await self._shared.wait(self._inputs)
        elif self._park is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._park.idle, 0)
        else:
            self._sleep_s = min(self._max_sleep_s, self._sleep_s * 2 or 0.00005)
            await asyncio.sleep(self._sleep_s)
