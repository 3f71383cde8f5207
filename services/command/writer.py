"""Group commit for the HTTP API: concurrent requests share one transaction.

Each request hands its command to the writer and awaits the answer. One background
task takes whatever commands are waiting (up to the batch size), executes them in
one database transaction on a worker thread, and answers each request. Under load,
batches grow by themselves; with a single client, a batch is one command.
"""

from __future__ import annotations

import asyncio
import contextlib

from shared.application import Customers, Envelope, Result


class BatchingWriter:
    def __init__(self, customers: Customers, max_batch: int) -> None:
        self._customers = customers
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Envelope, asyncio.Future[Result]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="batching-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def submit(self, envelope: Envelope) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        await self._queue.put((envelope, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await asyncio.to_thread(self._customers.execute, [envelope for envelope, _ in batch])
            except Exception as error:  # a failure no command should share with its batch-mates
                if len(batch) == 1:
                    _answer(batch[0][1], error=error)
                    continue
                for envelope, future in batch:  # alone, each gets its own answer or its own error
                    try:
                        [result] = await asyncio.to_thread(self._customers.execute, [envelope])
                    except Exception as alone:  # noqa: BLE001 - handed to that request, which answers 5xx
                        _answer(future, error=alone)
                    else:
                        _answer(future, result=result)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                _answer(future, result=result)


def _answer(future: asyncio.Future[Result], result: Result | None = None, error: Exception | None = None) -> None:
    if not future.done():
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
