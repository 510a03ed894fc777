"""The prediction log: one JSON line per answered /predict request, for `make drift LOG=...` and for audits.

A line holds the time, the model version (its md5), the request's latency, the validated inputs (the
table the model saw: numbers as numbers, gaps as null) and the answers. A refused request is never
logged: its body is the client's, unchecked. Set by environment variables (README, "Serving"):

- PREDICTION_LOG: the file, default logs/predictions.jsonl; each process writes its own,
  logs/predictions-<pid>.jsonl, because rotation is not safe with several writers on one file. `-` writes
  to stdout (for the container runtime's log collector; one worker only, longer lines of two workers can
  interleave there). Empty: no log.
- PREDICTION_LOG_SAMPLE: the share of requests logged, 0 to 1 (default 1).
- PREDICTION_LOG_MAX_BYTES, PREDICTION_LOG_BACKUPS: the file is rotated at this size (default 10 MB) and
  this many old files are kept (default 5: at most 60 MB per process).

The request only puts a record on a queue; a thread of the logging library turns it into JSON and writes it
(QueueHandler -> QueueListener -> RotatingFileHandler), so a slow disk never slows an answer.
"""

import logging
import logging.handlers
import os
import queue
import random
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from pythonjsonlogger.json import JsonEncoder, JsonFormatter


class Encoder(JsonEncoder):
    """python-json-logger's encoder, which also writes the input table: one object per record, a gap
    (NaN, `value != value`) as null."""

    def default(self, o):
        if isinstance(o, pd.DataFrame):  # column by column: twice as fast as DataFrame.to_dict
            columns = {name: [None if value != value else value for value in o[name].tolist()] for name in o}
            return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
        if isinstance(o, np.ndarray | np.generic):
            return o.tolist()
        return super().default(o)


class PredictionLog:
    def __init__(self, target: str, sample: float, max_bytes: int, backups: int):
        if target == "-":
            handler: logging.Handler = logging.StreamHandler(sys.stdout)
            self.where = "stdout"
        else:
            path = Path(target)
            path = path.with_name(f"{path.stem}-{os.getpid()}{path.suffix}")
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, delay=True)
            self.where = str(path)
        # fmt=[]: no "message" field; timestamp: the time the request was answered (UTC, ISO 8601).
        handler.setFormatter(JsonFormatter([], timestamp="ts", json_encoder=Encoder))
        self.sample = sample
        self.handler = handler
        self.queue: queue.Queue = queue.Queue()
        self.listener = logging.handlers.QueueListener(self.queue, handler)
        self.logger = logging.getLogger(__name__)
        self.logger.propagate = False  # these lines are data: not for the server's own log
        self.logger.setLevel(logging.INFO)
        self.queue_handler = logging.handlers.QueueHandler(self.queue)
        self.logger.addHandler(self.queue_handler)
        self.listener.start()

    def write(self, model_version: str, latency_ms: float, inputs: pd.DataFrame, **answers) -> None:
        """Queue one line for a sampled request (`answers`: predictions, and what else the response says)."""
        if self.sample < 1 and random.random() >= self.sample:
            return
        extra = {"model_version": model_version, "latency_ms": round(latency_ms, 3), "inputs": inputs, **answers}
        self.logger.info("prediction", extra=extra)

    def close(self) -> None:
        """Write what is still queued, then close the file (the app's shutdown calls this)."""
        self.logger.removeHandler(self.queue_handler)
        self.listener.stop()
        self.handler.close()


def number(name: str, default: str, kind: type):
    try:
        return kind(os.environ.get(name) or default)
    except ValueError:
        raise ValueError(f"{name}={os.environ[name]!r} is not a {kind.__name__}") from None


def from_environment() -> PredictionLog | None:
    """The log the environment asks for (module docstring), or None when PREDICTION_LOG is empty."""
    target = os.environ.get("PREDICTION_LOG", "logs/predictions.jsonl")
    sample = number("PREDICTION_LOG_SAMPLE", "1", float)
    if not 0 <= sample <= 1:
        raise ValueError(f"PREDICTION_LOG_SAMPLE must be between 0 and 1, got {sample}")
    if not target:
        return None
    max_bytes = number("PREDICTION_LOG_MAX_BYTES", "10000000", int)
    backups = number("PREDICTION_LOG_BACKUPS", "5", int)
    return PredictionLog(target, sample, max_bytes, backups)
