"""Requests that arrive together share one model call.

A scikit-learn pipeline takes about as long for one row as for a few hundred (a random forest spends most
of a call dispatching its trees), so under concurrent load one call for many requests multiplies the
throughput (benchmarks/RESULTS.md, P5, measures it). The price: a request that finds no other waiting
waits WINDOW_S for company. PREDICT_BATCHING=off in the server's environment makes one model call per
request instead (app.py), which the benchmark compares this with.
"""

import asyncio
from collections.abc import Callable

import numpy as np
import pandas as pd

WINDOW_S = 0.002  # how long a lone request waits for others to share its model call
MAX_ROWS = 10_000  # rows per shared call (records.MAX_RECORDS per request)


class RequestBatcher:
    """Runs `method` (the model's output) once for all the requests waiting for it, in a thread."""

    def __init__(self, method: Callable[[pd.DataFrame], np.ndarray]):
        self.method = method
        self.queue: asyncio.Queue[tuple[pd.DataFrame, asyncio.Future]] = asyncio.Queue()

    async def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The method's output for this frame, computed with the frames of the requests waiting beside it."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((frame, future))
        return await future

    async def run(self) -> None:
        """Serve the queue until cancelled (the app's lifespan starts and stops it)."""
        while True:
            batch = [await self.queue.get()]
            if self.queue.empty():
                await asyncio.sleep(WINDOW_S)
            rows = len(batch[0][0])
            while not self.queue.empty() and rows < MAX_ROWS:
                batch.append(self.queue.get_nowait())
                rows += len(batch[-1][0])
            try:
                results = await asyncio.to_thread(self.compute, [frame for frame, _ in batch])
            except Exception as error:  # every waiting request gets the error: none hangs
                results = [error] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the client went away
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def compute(self, frames: list[pd.DataFrame]) -> list[np.ndarray | Exception]:
        """One call for all frames. If it fails, one call per frame: each request gets its own error."""
        if len(frames) > 1:
            try:
                output = self.method(pd.concat(frames, ignore_index=True))
                return np.split(output, np.cumsum([len(frame) for frame in frames])[:-1])
            except Exception:  # found out below, request by request
                pass
        results: list[np.ndarray | Exception] = []
        for frame in frames:
            try:
                results.append(self.method(frame))
            except Exception as error:  # raised in that request's handler
                results.append(error)
        return results
