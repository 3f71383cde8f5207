"""Random (version 4) UUIDs for events and the things they create, from a buffer of ``os.urandom``.

``uuid.uuid4()`` asks the kernel for 16 bytes per id (``os.urandom`` releases the GIL around the
system call) and then builds the UUID in Python with its argument checks: about 1.5 µs alone, and
far more in a process whose other threads (kafka-python's network threads, the pool's workers)
take the GIL each time it is released. Here the kernel is asked for 4 KiB at a time, and the UUID
is made from its integer directly. The bytes come from the same source, so the ids are as random
as ``uuid4()``'s; the buffer is dropped in a forked child, which must never repeat its parent's ids.
"""

from __future__ import annotations

import os
from uuid import UUID

_IDS_PER_READ = 256
_VERSION_4 = (0x4 << 76) | (0x2 << 62)  # the version (4) and variant (RFC 4122) bits
_CLEAR = ~((0xF << 76) | (0x3 << 62))
_SAFE = UUID(int=0).is_safe  # SafeUUID.unknown, as uuid4() gives
_buffer: list[int] = []


def _refill() -> None:
    raw = os.urandom(16 * _IDS_PER_READ)
    _buffer.extend(int.from_bytes(raw[i:i + 16], "big") for i in range(0, len(raw), 16))


def uuid4() -> UUID:
    """A random UUID (version 4), as ``uuid.uuid4()`` makes."""
    while True:
        try:
            value = (_buffer.pop() & _CLEAR) | _VERSION_4  # list.pop is atomic: no two threads get the same bytes
            break
        except IndexError:
            _refill()
    uuid = object.__new__(UUID)
    object.__setattr__(uuid, "int", value)
    object.__setattr__(uuid, "is_safe", _SAFE)
    return uuid


os.register_at_fork(after_in_child=_buffer.clear)
