"""Work split over forked processes: each process does one share on connections of its own (never the parent's),
the parent shows their progress as one and gathers their results.

Forked, not spawned: a share's work is a closure over what the parent already has (a projection class, a mapping,
an application to reconnect like), with no import of the code again, and only results travel back (pickled).
Used by ``projections rebuild`` and ``import`` with ``--processes N``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import queue
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
Advance = Callable[[int], Any]  # how a share reports progress: items done since it last said


class ProcessEndedError(RuntimeError):
    """A process ended without a result or an exception (killed, or out of memory)."""


def in_processes(work: Callable[[int, Advance], T], count: int, advance: Advance) -> list[T]:
    """``work(index, advance)`` for index 0 … count - 1, each in a forked process, all at once; their results in
    index order. ``advance`` hears the items the processes report done, as they go. The first failed process's
    exception is raised here, with its traceback from that process as a note; the others are stopped."""
    context = multiprocessing.get_context("fork")
    done = context.Value("q", 0)
    outcomes: Any = context.Queue()
    workers = [context.Process(target=_share, args=(work, index, done, outcomes), name=f"share-{index}", daemon=True)
               for index in range(count)]
    results: dict[int, tuple[Any, tuple[BaseException | None, str] | None]] = {}
    shown = 0
    try:
        for worker in workers:
            worker.start()
        while len(results) < count and not any(failure for _, failure in results.values()):
            try:
                index, result, failure = outcomes.get(timeout=0.2)
                results[index] = (result, failure)
            except queue.Empty:
                _missing(workers, results, outcomes)
            advance(done.value - shown)
            shown = done.value
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
    for index in sorted(results):
        if failure := results[index][1]:
            error, trace = failure
            if error is None:
                raise ProcessEndedError(f"process {index + 1} of {count} failed:\n{trace}")
            error.add_note(f"in process {index + 1} of {count}:\n{trace}")
            raise error
    return [results[index][0] for index in range(count)]


def _missing(workers: list[Any], results: dict[int, Any], outcomes: Any) -> None:
    """Raise if a process ended without sending its outcome (read what came late first)."""
    for index, worker in enumerate(workers):
        if worker.exitcode is not None and index not in results:
            with contextlib.suppress(queue.Empty):  # its outcome may have come after the timeout
                while True:
                    late, result, failure = outcomes.get(timeout=1)
                    results[late] = (result, failure)
            if index not in results:
                raise ProcessEndedError(f"process {index + 1} of {len(workers)} ended (exit code {worker.exitcode}) "
                                        "before its share was done")


def _share(work: Callable[[int, Advance], Any], index: int, done: Any, outcomes: Any) -> None:
    def advance(items: int) -> None:
        with done.get_lock():
            done.value += items

    try:
        outcomes.put((index, work(index, advance), None))
    except BaseException as error:  # noqa: BLE001 - the parent raises it
        trace = "".join(traceback.format_exception(error))
        try:
            pickle.dumps(error)
        except Exception:  # noqa: BLE001 - an exception that cannot travel is told by its traceback
            error = None
        outcomes.put((index, None, (error, trace)))
