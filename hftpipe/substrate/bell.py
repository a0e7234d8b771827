"""What a ring's producer rings after a commit while its consumer is parked.

A consumer in another process is woken through its process's POSIX semaphore
(``posix_ipc.Semaphore`` is a :class:`Bell`). A consumer waiting on the event
loop of the producer's own process is woken without it, by
:class:`~hftpipe.substrate.shared_doorbell.InProcessBell`: no syscall and no
thread hop on that ring's hop.
"""

from __future__ import annotations

from typing import Protocol


class Bell(Protocol):
    def release(self) -> None: ...
