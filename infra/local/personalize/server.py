"""HTTP front end: JSON-RPC control plane, REST-JSON runtime and ``GET /health`` on one port.

An asyncio HTTP/1.1 server on its own thread. Runtime requests are answered on the event loop
(sub-millisecond numpy work, no thread hand-offs); control-plane requests, which write state to disk,
run on a small thread pool so they never hold up recommendations.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import orjson

from infra.local.personalize.autoupdate import AutoUpdates
from infra.local.personalize.errors import InvalidInputException, PersonalizeError, UnknownOperationException
from infra.local.personalize.jobs import Worker
from infra.local.personalize.runtime import Runtime
from infra.local.personalize.service import ControlPlane
from infra.local.personalize.store import Store

log = logging.getLogger(__name__)
TARGET_PREFIX = "AmazonPersonalize."
REGION_RE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
HEALTH_PATHS = ("/health", "/_health", "/")
MAX_HEADER = 64 * 1024
JSON_RPC = "application/x-amz-json-1.1"
REST_JSON = "application/json"


def _dumps(payload: dict[str, Any]) -> bytes:
    """JSON bytes through orjson (engine extra): stdlib json's encoding is a tenth of a request's cost."""
    return orjson.dumps(payload)


def _loads(body: bytes) -> Any:
    return orjson.loads(body)


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Response:
    """What goes back on the wire."""

    status: int
    payload: dict[str, Any]
    content_type: str = REST_JSON

    def encode(self, keep_alive: bool) -> bytes:
        data = _dumps(self.payload)
        reason = HTTPStatus(self.status).phrase
        head = (
            f"HTTP/1.1 {self.status} {reason}\r\nContent-Type: {self.content_type}\r\n"
            f"Content-Length: {len(data)}\r\nx-amzn-RequestId: local\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        )
        return head.encode("latin-1") + data


class Engine:
    """Store + worker + the two APIs; what the HTTP layer talks to."""

    def __init__(self, state_dir: str | Path) -> None:
        self.store = Store(state_dir)
        self.updates = AutoUpdates(self.store)
        self.worker = Worker(self.store, self.updates)
        self.control = ControlPlane(self.store, self.worker)
        self.runtime = Runtime(self.store, self.updates)
        self.control.resume()
        self.routes = {
            "/recommendations": self.runtime.get_recommendations,
            "/personalize-ranking": self.runtime.get_personalized_ranking,
        }

    def is_control(self, request: Request) -> bool:
        return "x-amz-target" in request.headers

    def respond(self, request: Request) -> Response:
        """Dispatch one request; every failure becomes a Personalize-shaped error."""
        target = request.headers.get("x-amz-target")
        ctype = JSON_RPC if target else REST_JSON
        if request.method == "GET":
            if request.path.split("?", 1)[0] in HEALTH_PATHS:
                return Response(200, {"status": "ok"})
            return Response(404, UnknownOperationException(f"No GET route {request.path}").body())
        try:
            body = _loads(request.body) if request.body else {}
            if not isinstance(body, dict):
                raise InvalidInputException("Request body must be a JSON object.")
            return Response(200, self._dispatch(request, target, body), ctype)
        except PersonalizeError as exc:
            return Response(exc.status, exc.body(), ctype)
        except ValueError as exc:
            return Response(400, InvalidInputException(f"Invalid request: {exc}").body(), ctype)
        except Exception as exc:
            log.exception("internal error", extra={"path": request.path, "target": target})
            return Response(500, {"__type": "InternalFailure", "message": str(exc)}, ctype)

    def _dispatch(self, request: Request, target: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if target:
            if not target.startswith(TARGET_PREFIX):
                raise UnknownOperationException(f"Unknown target {target}")
            match = REGION_RE.search(request.headers.get("authorization", ""))
            region = match.group(1) if match else None
            return self.control.dispatch(target[len(TARGET_PREFIX) :], body, region)
        route = self.routes.get(request.path.split("?", 1)[0].rstrip("/"))
        if route is None:
            raise UnknownOperationException(f"No operation at {request.path}")
        return route(body)


class HttpProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1 with keep-alive: Content-Length bodies, one request at a time per connection."""

    def __init__(self, engine: Engine, pool: ThreadPoolExecutor) -> None:
        self.engine = engine
        self.pool = pool
        self.buffer = bytearray()
        self.busy = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._process()

    def _process(self) -> None:
        while not self.busy and self.transport is not None:
            request = self._next_request()
            if request is None:
                return
            keep_alive = request.headers.get("connection", "").lower() != "close"
            if self.engine.is_control(request):
                self.busy = True
                future = asyncio.get_running_loop().run_in_executor(self.pool, self.engine.respond, request)
                future.add_done_callback(partial(self._finish, keep_alive=keep_alive))
                return
            self._send(self.engine.respond(request), keep_alive)

    def _finish(self, done: asyncio.Future[Response], keep_alive: bool) -> None:
        self.busy = False
        self._send(done.result(), keep_alive)
        self._process()

    def _send(self, response: Response, keep_alive: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(response.encode(keep_alive))
        if not keep_alive:
            self.transport.close()

    def _next_request(self) -> Request | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEADER and self.transport is not None:
                self.transport.close()
            return None
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        if len(self.buffer) < end + 4 + length:
            if headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                headers.pop("expect")
            return None
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        method, path, *_ = [*lines[0].split(" "), "", ""][:3]
        return Request(method.upper(), path, headers, body)


@dataclass
class ServerHandle:
    """A running in-process server: ``url`` to point clients at, ``stop()`` to shut it down."""

    url: str
    engine: Engine
    loop: asyncio.AbstractEventLoop
    server: asyncio.base_events.Server
    thread: threading.Thread
    pool: ThreadPoolExecutor

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.engine.worker.stop()


def start_server(host: str = "127.0.0.1", port: int = 0, state_dir: str | Path = ".personalize-state") -> ServerHandle:
    """Start the engine on its own event-loop thread (port 0 picks a free port)."""
    engine = Engine(state_dir)
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="personalize-control")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            holder["server"] = loop.run_until_complete(
                loop.create_server(lambda: HttpProtocol(engine, pool), host, port, backlog=256, reuse_address=True)
            )
        except OSError as exc:
            holder["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="personalize-http", daemon=True)
    thread.start()
    ready.wait(timeout=10)
    if "error" in holder:
        engine.worker.stop()
        raise holder["error"]
    server = holder["server"]
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    return ServerHandle(f"http://{bound_host}:{bound_port}", engine, loop, server, thread, pool)
