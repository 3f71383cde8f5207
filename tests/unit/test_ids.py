"""shared.ids.uuid4: random version-4 UUIDs from a buffer of os.urandom, never repeated across a fork."""

from __future__ import annotations

import os
import uuid

from shared import ids


def test_ids_are_version_4_uuids_like_the_standard_librarys() -> None:
    made = [ids.uuid4() for _ in range(2_000)]  # several refills of the buffer
    assert len(set(made)) == len(made)
    for value in made[:50]:
        assert isinstance(value, uuid.UUID)
        assert value.version == 4 and value.variant == uuid.RFC_4122
        assert uuid.UUID(str(value)) == value and hash(uuid.UUID(str(value))) == hash(value)
        assert value.is_safe == uuid.uuid4().is_safe


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    ids.uuid4()  # the buffer holds ids the parent has not used yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, b"".join(ids.uuid4().bytes for _ in range(10)))
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 160)
    os.close(read)
    parents = {ids.uuid4().bytes for _ in range(300)}
    assert not {child[i:i + 16] for i in range(0, 160, 16)} & parents
