"""Running the relay and projection workers inside the test process, and waiting for them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from services.projections.app import build_worker
from services.projections.worker import ProjectionWorker
from services.relay.app import build_relay
from shared.settings import Settings


def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """Wait until check() returns something truthy (and return it), or fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {check.__doc__ or check}")
        time.sleep(interval)


@contextmanager
def running(settings: Settings, projections: tuple[str, ...] = (), relay: bool = True
            ) -> Iterator[dict[str, ProjectionWorker]]:
    """Run the relay and the named projection workers in threads until the block ends."""
    stop = threading.Event()
    threads: list[threading.Thread] = []
    workers = {name: build_worker(settings, name) for name in projections}
    if relay:
        threads.append(threading.Thread(target=build_relay(settings).run, args=(stop,), daemon=True))
    threads += [threading.Thread(target=w.run, args=(stop,), daemon=True) for w in workers.values()]
    for thread in threads:
        thread.start()
    try:
        yield workers
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        for worker in workers.values():
            worker.close()
