"""Work split over forked processes: results in order, progress added up, a failure raised in the parent."""

from __future__ import annotations

import os

import pytest

from shared.forking import ProcessEndedError, in_processes


def test_each_share_runs_in_a_process_of_its_own_and_the_results_come_in_order() -> None:
    seen: list[int] = []

    def work(index: int, advance) -> tuple[int, int]:
        advance(10 + index)
        return index, os.getpid()

    results = in_processes(work, 3, seen.append)
    assert [index for index, _ in results] == [0, 1, 2]
    assert len({pid for _, pid in results} | {os.getpid()}) == 4
    assert sum(seen) == 33


def test_a_share_that_raises_raises_in_the_parent_with_its_traceback() -> None:
    def work(index: int, advance) -> int:
        if index == 1:
            raise ValueError("the second share cannot")
        return index

    with pytest.raises(ValueError, match="the second share cannot") as raised:
        in_processes(work, 2, lambda _: None)
    assert any("in process 2 of 2" in note and "Traceback" in note for note in raised.value.__notes__)


def test_a_share_that_dies_is_named() -> None:
    def work(index: int, advance) -> int:
        if index == 0:
            os._exit(3)
        return index

    with pytest.raises(ProcessEndedError, match="process 1 of 2 ended \\(exit code 3\\)"):
        in_processes(work, 2, lambda _: None)
