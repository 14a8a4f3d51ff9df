"""An OpenAI-compatible HTTP server on loopback, for tests and benchmarks.

A real `ThreadingHTTPServer` in a thread: the real `openai` SDK talks to it over HTTP.
It scripts replies and faults:

- a *responder* (a callable) decides the reply to each chat completion: it gets the
  parsed request body and returns the message content (a str), or a `ServerReply` for
  full control (status, headers, raw body, usage, latency);
- `script(*replies)` queues replies served before the responder, one per request, in
  order — e.g. `ServerReply.rate_limited(retry_after=1)`, `ServerReply.error(500)`,
  `ServerReply.malformed()`;
- `latency` delays every reply (seconds); `requests` logs every request
  (method, path, body, headers), so tests can count what was sent.

Routes live in one table, `ScriptedOpenAI.routes` (method, path) -> handler; add one
(e.g. /v1/files, /v1/fine_tuning/jobs) by adding a method and an entry.

    with ScriptedOpenAI(responder=lambda body: '{"ok": true}', latency=0.2) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="x")
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class ServerReply:
    """One scripted reply. `content` becomes a chat completion; `raw` is sent as-is."""

    status: int = 200
    content: str | None = None
    raw: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    usage: dict[str, int] | None = None  # default: word counts of prompt and content
    latency: float | None = None  # overrides the server's latency for this reply
    finish_reason: str = "stop"

    @classmethod
    def rate_limited(cls, retry_after: float | str = 1) -> "ServerReply":
        return cls(status=429, headers={"Retry-After": str(retry_after)},
                   raw=_error_body("Rate limit reached, retry later", "rate_limit_exceeded"))

    @classmethod
    def error(cls, status: int = 500, message: str = "internal server error") -> "ServerReply":
        return cls(status=status, raw=_error_body(message, "server_error"))

    @classmethod
    def malformed(cls) -> "ServerReply":
        """A 200 whose body is not JSON (a proxy's HTML page, a truncated stream)."""
        return cls(status=200, raw='{"id": "chatcmpl-x", "choices": [{"mess',
                   headers={"Content-Type": "application/json"})


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    path: str
    body: Any
    headers: dict[str, str]  # names lower-cased
    time: float

    @property
    def user_text(self) -> str:
        """All message contents of a chat request, joined."""
        if not isinstance(self.body, dict):
            return ""
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []))


def _error_body(message: str, code: str) -> str:
    return json.dumps({"error": {"message": message, "type": code, "code": code}})


def default_responder(body: dict[str, Any]) -> str:
    return "Hello from the test server."


class ScriptedOpenAI:
    """The server; use as a context manager or call start()/stop()."""

    def __init__(self, responder: Callable[[dict[str, Any]], str | ServerReply] | None = None,
                 latency: float = 0.0, models: tuple[str, ...] = ("test-model",)):
        self.responder = responder or default_responder
        self.latency = latency
        self.models = models
        self.requests: list[LoggedRequest] = []
        self._queue: deque[ServerReply] = deque()
        self._lock = threading.Lock()
        self._counter = 0
        self.routes: dict[tuple[str, str], Callable[[LoggedRequest], ServerReply]] = {
            ("POST", "/v1/chat/completions"): self.chat_completions,
            ("GET", "/v1/models"): self.list_models,
        }
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- control -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def script(self, *replies: ServerReply) -> None:
        """Serve these replies to the next chat requests, before the responder."""
        with self._lock:
            self._queue.extend(replies)

    def chat_requests(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    def start(self) -> "ScriptedOpenAI":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as separate writes: without TCP_NODELAY, Nagle's
            # algorithm and the client's delayed ACK add ~40 ms to every reply.
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                if len(data) < length:  # the client went away mid-request: nothing to answer
                    self.close_connection = True
                    return
                text = data.decode("utf-8")
                try:
                    body = json.loads(text) if text else None
                except json.JSONDecodeError:
                    body = text
                path = self.path.split("?", 1)[0]
                logged = LoggedRequest(method, path, body, {k.lower(): v for k, v in self.headers.items()},
                                        time.time())
                with server._lock:
                    server.requests.append(logged)
                handler = server.routes.get((method, path))
                if handler is None:
                    reply = ServerReply(status=404, raw=_error_body(f"no route {method} {path}",
                                                                    "not_found"))
                else:
                    try:
                        reply = handler(logged)
                    except Exception as err:  # a bug in a test responder: say so, as a 500
                        reply = ServerReply.error(500, f"responder failed: {err!r}")
                delay = server.latency if reply.latency is None else reply.latency
                if delay:
                    time.sleep(delay)
                payload = (reply.raw if reply.raw is not None else "").encode("utf-8")
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json", **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.close_connection = True

            def do_POST(self):
                self._handle("POST")

            def do_GET(self):
                self._handle("GET")

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 drops connections when 16+ open at once
            daemon_threads = True

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "ScriptedOpenAI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- routes --------------------------------------------------------------------
    def chat_completions(self, request: LoggedRequest) -> ServerReply:
        body = request.body if isinstance(request.body, dict) else {}
        if not body.get("messages") or not body.get("model"):
            return ServerReply(status=400, raw=_error_body("'messages' and 'model' are required",
                                                           "invalid_request_error"))
        with self._lock:
            scripted = self._queue.popleft() if self._queue else None
            self._counter += 1
            number = self._counter
        reply = scripted or self.responder(body)
        if isinstance(reply, str):
            reply = ServerReply(content=reply)
        if reply.raw is None:
            content = reply.content or ""
            usage = reply.usage or {"prompt_tokens": _count_words(request.user_text),
                                    "completion_tokens": _count_words(content)}
            usage = {**usage, "total_tokens": usage.get("prompt_tokens", 0)
                     + usage.get("completion_tokens", 0)}
            reply.raw = json.dumps({
                "id": f"chatcmpl-{number}", "object": "chat.completion", "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": reply.finish_reason,
                             "message": {"role": "assistant", "content": content}}],
                "usage": usage,
            })
        return reply

    def list_models(self, request: LoggedRequest) -> ServerReply:
        return ServerReply(raw=json.dumps({"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "wpqa-tests"}
            for m in self.models]}))


def _count_words(text: str) -> int:
    return len(re.findall(r"\S+", text))


def main() -> None:
    """Serve on loopback from the command line (benchmarks run it in its own process):
    `python -m tests.openai_server --latency 0.2` prints the base URL, then serves."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--content", default='{"ok": true}', help="the reply to every chat request")
    args = parser.parse_args()
    server = ScriptedOpenAI(responder=lambda body: args.content, latency=args.latency).start()
    print(server.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
