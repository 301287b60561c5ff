"""Capture the product's log lines (the ``storyrec`` logger, in shared.logs' JSON schema) for assertions."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.logs import JsonFormatter

SCHEMA = {"time", "severity", "logger", "message", "correlation_id"}
"""The keys every line carries (``extra`` fields come on top)."""


@contextmanager
def captured() -> Iterator[list[dict[str, Any]]]:
    """The JSON lines the product logs inside the block, parsed (filled in when the block ends)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("storyrec")
    logger.addHandler(handler)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())
