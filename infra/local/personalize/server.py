"""HTTP front end: JSON-RPC control plane, REST-JSON runtime and ``GET /health`` on one port."""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from infra.local.personalize.errors import InvalidInputException, PersonalizeError, UnknownOperationException
from infra.local.personalize.jobs import Worker
from infra.local.personalize.runtime import Runtime
from infra.local.personalize.service import ControlPlane
from infra.local.personalize.store import Store

log = logging.getLogger(__name__)
TARGET_PREFIX = "AmazonPersonalize."
REGION_RE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")


class Engine:
    """Store + worker + the two APIs; what the HTTP handler talks to."""

    def __init__(self, state_dir: str | Path) -> None:
        self.store = Store(state_dir)
        self.worker = Worker(self.store)
        self.control = ControlPlane(self.store, self.worker)
        self.runtime = Runtime(self.store)
        self.control.resume()
        self.routes = {
            "/recommendations": self.runtime.get_recommendations,
            "/personalize-ranking": self.runtime.get_personalized_ranking,
        }

    def handle(self, path: str, target: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if target:
            if not target.startswith(TARGET_PREFIX):
                raise UnknownOperationException(f"Unknown target {target}")
            return self.control.dispatch(target[len(TARGET_PREFIX) :], body)
        route = self.routes.get(path.split("?", 1)[0].rstrip("/"))
        if route is None:
            raise UnknownOperationException(f"No operation at {path}")
        return route(body)


class Handler(BaseHTTPRequestHandler):
    """One request: parse JSON, dispatch, answer JSON (errors as Personalize shapes them)."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out as separate writes; with Nagle on, keep-alive clients wait ~40 ms per call.
    disable_nagle_algorithm = True
    server: EngineServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http " + format, *args)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] in ("/health", "/_health", "/"):
            self._send(200, {"status": "ok"}, "application/json")
        else:
            self._send(404, UnknownOperationException(f"No GET route {self.path}").body(), "application/json")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target")
        ctype = "application/x-amz-json-1.1" if target else "application/json"
        try:
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise InvalidInputException("Request body must be a JSON object.")
            self._region(body)
            out = self.server.engine.handle(self.path, target, body)
            self._send(200, out, ctype)
        except PersonalizeError as exc:
            self._send(exc.status, exc.body(), ctype)
        except ValueError as exc:
            self._send(400, InvalidInputException(f"Invalid request: {exc}").body(), ctype)
        except Exception as exc:
            log.exception("internal error", extra={"path": self.path, "target": target})
            self._send(500, {"__type": "InternalFailure", "message": str(exc)}, ctype)

    def _region(self, body: dict[str, Any]) -> None:
        match = REGION_RE.search(self.headers.get("Authorization") or "")
        if match:
            self.server.engine.control.region = match.group(1)

    def _send(self, status: int, payload: dict[str, Any], ctype: str) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "local")
        self.end_headers()
        self.wfile.write(data)


class EngineServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to one Engine."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], engine: Engine) -> None:
        super().__init__(address, Handler)
        self.engine = engine


@dataclass
class ServerHandle:
    """A running in-process server: ``url`` to point clients at, ``stop()`` to shut it down."""

    url: str
    server: EngineServer
    thread: threading.Thread

    @property
    def engine(self) -> Engine:
        return self.server.engine

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.engine.worker.stop()
        self.thread.join(timeout=5)


def start_server(
    host: str = "127.0.0.1", port: int = 0, state_dir: str | Path = ".personalize-state"
) -> ServerHandle:
    """Start the engine in a background thread (port 0 picks a free port)."""
    server = EngineServer((host, port), Engine(state_dir))
    thread = threading.Thread(target=server.serve_forever, name="personalize-http", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    return ServerHandle(f"http://{bound_host}:{bound_port}", server, thread)
