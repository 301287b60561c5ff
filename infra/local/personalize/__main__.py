"""``python -m infra.local.personalize --host 127.0.0.1 --port PORT --state-dir DIR``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, with any ``extra`` fields."""

    RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in self.RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Amazon Personalize-compatible engine")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--state-dir", default=".personalize-state")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])

    from threadpoolctl import threadpool_limits

    from infra.local.personalize.server import start_server
    from infra.local.personalize.store import StateFormatError

    # Runtime scoring is many tiny mat-vecs: BLAS threads would only contend with the event loop.
    threadpool_limits(1, "blas")
    # The event loop shares the GIL with control-plane and training threads: shorter slices give it back
    # sooner (tail latency).
    sys.setswitchinterval(0.002)

    try:
        handle = start_server(args.host, args.port, args.state_dir)
    except StateFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    logging.getLogger("infra.local.personalize").info("listening", extra={"url": handle.url})
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    handle.stop()
    logging.getLogger("infra.local.personalize").info("stopped")
    logging.shutdown()
    # A training job may still be running on the worker thread; its state is saved as pending and is
    # re-queued on the next start, so do not wait for it (the stack manager expects a prompt exit).
    os._exit(0)


if __name__ == "__main__":
    main()
