"""Logging: JSON lines (or readable text on a terminal), each carrying the current request id; Python
warnings go through it too. Lines are plain text: uvicorn's `color_message` (its message again, with
terminal colour codes) and any other extra field holding ANSI escapes are dropped."""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from itertools import islice
from typing import Any

import orjson

from gateway.settings import LogFormat

request_id: ContextVar[str] = ContextVar("request_id", default="-")
_BLANK = logging.LogRecord("", 0, "", 0, "", None, None).__dict__
_STANDARD = set(_BLANK) | {"message", "asctime"}
_DROPPED = _STANDARD | {"color_message"}
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """The record's `extra=` fields, without colour: fields carrying ANSI escape sequences are dropped.
    A record's own attributes are all set first, in `LogRecord.__init__`: only what follows them is
    looked at (a line per request, the access log's, would otherwise test each of them)."""
    return {
        k: v
        for k, v in islice(record.__dict__.items(), len(_BLANK), None)
        if k not in _DROPPED and not (isinstance(v, str) and _ANSI.search(v))
    }


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        doc.update(_extras(record))
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        record.request_id = request_id.get()
        extra = {k: v for k, v in _extras(record).items() if k != "request_id"}
        line = super().format(record)
        return line + ("  " + " ".join(f"{k}={v}" for k, v in extra.items()) if extra else "")


def configure(level: str, fmt: LogFormat) -> None:
    """Route the gateway's and uvicorn's logs through one handler on stderr."""
    use_text = fmt is LogFormat.TEXT or (fmt is LogFormat.AUTO and sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if use_text else JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the gateway writes its own access lines
    # Neither format shows a record's source line, thread or process: not looked up for each record
    # (the logging HOWTO's "Optimization"; the access log makes one record per request).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.captureWarnings(True)  # a library's warning (aiohttp's, ...) is a log line too, not raw stderr
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per upstream call is noise
