"""A loopback OpenAI-compatible server for tests and benchmarks (pure stdlib).

It speaks the part of vLLM's API that evalhub uses: ``GET /v1/models`` and
``POST /v1/chat/completions`` with ``n``, ``seed``, ``temperature``, ``top_p``, ``max_tokens`` and
``stop``. Answers come from :func:`evalhub.generation.fake.deterministic_completion`, so they are
deterministic in (model, messages, seed, sample index). Adapter names are just more served models.

Behaviours for testing the client: a simulated latency per request, the first K chat requests
failing (an HTTP status such as 429 / 500 / 400, ``"drop"`` to close the socket without a
response, ``"malformed"`` to answer 200 with broken JSON), and unknown models answered with 404
and OpenAI's error JSON. It counts requests and the most requests in flight at once.

    with LoopbackOpenAIServer(models=["base", "warm"], latency_s=0.2) as server:
        backend = OpenAICompatBackend(server.base_url)
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from evalhub.generation.base import SamplingParams
from evalhub.generation.fake import deterministic_completion

FAILURES = ("drop", "malformed")


class LoopbackOpenAIServer:
    """Start with ``start()`` or as a context manager; ``base_url`` ends in ``/v1``."""

    def __init__(
        self,
        models: Sequence[str] = ("tiny-base", "tiny-warm"),
        *,
        latency_s: float = 0.0,
        fail_first: int = 0,
        failure: int | str = 429,
        retry_after_s: float | None = None,
    ) -> None:
        self.models = list(models)
        self.latency_s = latency_s
        self.retry_after_s = retry_after_s
        self.configure_failures(fail_first=fail_first, failure=failure)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.reset_stats()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LoopbackOpenAIServer:
        handler = type("Handler", (_Handler,), {"owner": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
        httpd.daemon_threads = True
        httpd.request_queue_size = 256
        httpd.server_bind()
        httpd.server_activate()
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback-openai"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # keep-alive handlers would otherwise linger
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> LoopbackOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- behaviour and statistics ----------------------------------------------------------

    def configure_failures(self, *, fail_first: int, failure: int | str = 429) -> None:
        """Make the next ``fail_first`` chat requests fail with ``failure``."""
        if not (isinstance(failure, int) or failure in FAILURES):
            raise ValueError(f"failure must be an HTTP status or one of {FAILURES}")
        self.failure = failure
        self.failures_left = fail_first

    def reset_stats(self) -> None:
        self.chat_requests = 0
        self.models_requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[dict[str, Any]] = []

    def _enter(self, body: dict[str, Any]) -> int | str | None:
        """Count a chat request; return the failure it must suffer, if any."""
        with self._lock:
            self.chat_requests += 1
            self.bodies.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.failures_left > 0:
                self.failures_left -= 1
                return self.failure
            return None

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def completion_body(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The status and JSON answer for a chat completion request (no failure injected)."""
        model = body.get("model")
        if model not in self.models:
            return 404, _error(f"The model `{model}` does not exist.", "NotFoundError", 404)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return 400, _error("messages must be a non-empty list", "BadRequestError", 400)
        try:
            stop = body.get("stop") or ()
            params = SamplingParams(
                temperature=float(body.get("temperature", 1.0)),
                top_p=float(body.get("top_p", 1.0)),
                max_tokens=int(body.get("max_tokens") or 256),
                seed=body.get("seed"),
                n=int(body.get("n", 1)),
                stop=(stop,) if isinstance(stop, str) else tuple(stop),
            )
        except (TypeError, ValueError) as exc:
            return 400, _error(str(exc), "BadRequestError", 400)
        completions = [
            deterministic_completion(model=model, messages=messages, params=params, index=i)
            for i in range(params.n)
        ]
        prompt_tokens = completions[0].prompt_tokens
        completion_tokens = sum(c.completion_tokens for c in completions)
        return 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": c.text},
                    "finish_reason": c.finish_reason,
                    "logprobs": None,
                }
                for i, c in enumerate(completions)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _error(message: str, type_: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    owner: LoopbackOpenAIServer
    protocol_version = "HTTP/1.1"  # keep-alive, as vLLM's server
    timeout = 30  # idle keep-alive connections close after this

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK add about 40 ms to every answer (uvicorn sets it too).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.owner._track(self.connection, open_=True)

    def finish(self) -> None:
        self.owner._track(self.connection, open_=False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and benchmarks read the counters instead

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            self._send_json(404, _error(f"no route {self.path}", "NotFoundError", 404))
            return
        with self.owner._lock:
            self.owner.models_requests += 1
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "evalhub-loopback"}
            for name in self.owner.models
        ]
        self._send_json(200, {"object": "list", "data": data})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, _error(f"no route {self.path}", "NotFoundError", 404))
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send_json(400, _error("body is not JSON", "BadRequestError", 400))
            return
        failure = self.owner._enter(body)
        try:
            if self.owner.latency_s:
                time.sleep(self.owner.latency_s)
            self._answer(body, failure)
        finally:
            self.owner._leave()

    def _answer(self, body: dict[str, Any], failure: int | str | None) -> None:
        if failure == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if failure == "malformed":
            self._send_raw(200, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "mess')
            return
        if isinstance(failure, int):
            headers = {}
            if failure == 429 and self.owner.retry_after_s is not None:
                headers["Retry-After"] = str(self.owner.retry_after_s)
            message = f"injected failure {failure}"
            self._send_json(failure, _error(message, "InjectedError", failure), headers)
            return
        status, answer = self.owner.completion_body(body)
        self._send_json(status, answer)

    def _send_json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send_raw(status, json.dumps(payload).encode(), headers)

    def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
