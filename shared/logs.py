"""Structured JSON logs with a correlation id carried in a context variable: the one log schema of both clouds.

The Cloud Functions and the Lambdas log through :func:`get_logger` alike; each handler binds one
correlation id for its whole invocation (:func:`correlated`), and a use case that binds its own (an
export's run id) keeps the handler's, so every line of one invocation carries the same id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_correlation_id: ContextVar[str | None] = ContextVar("storyrec_correlation_id", default=None)
_RESERVED = set(vars(logging.makeLogRecord({})))
# user:password@ in URLs, and secret-looking query parameters (signatures, tokens, keys, passwords)
_URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^\s:/@\"']*):[^\s/\"']*@")
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&](?:[A-Za-z0-9_\-]*(?:password|passwd|secret|token|signature|credential|key)[A-Za-z0-9_\-]*))="
    r"[^&\s\"']*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with passwords in URLs and secret query parameters replaced by ``***``."""
    text = _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", text)
    return _SECRET_PARAM.sub(r"\g<name>=***", text)


def correlation_id() -> str | None:
    """The id of the event or run being handled, if any."""
    return _correlation_id.get()


@contextlib.contextmanager
def correlated(value: str | None = None) -> Iterator[str]:
    """Bind a correlation id (``value``, a new uuid when none is given) for the duration of the block.

    Inside a block that has one already, the outer id stays (and is yielded): the edge that received the
    event or started the run owns the id of all its lines.
    """
    bound = _correlation_id.get()
    if bound is not None:
        yield bound
        return
    cid = value or uuid.uuid4().hex
    token = _correlation_id.set(cid)
    try:
        yield cid
    finally:
        _correlation_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation_id and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        cid = correlation_id()
        if cid:
            payload["correlation_id"] = cid
        payload.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str, ensure_ascii=False))


def get_logger(name: str) -> logging.Logger:
    """A logger under ``storyrec``; the first call installs the JSON handler on stderr."""
    root = logging.getLogger("storyrec")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    return root.getChild(name)
