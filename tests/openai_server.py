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

Routes live in one table, `ScriptedOpenAI.routes` (method, path) -> handler, plus
`pattern_routes` for paths with an id; add one by adding a method and an entry. Besides
chat completions and models it serves the fine-tuning API the `openai` SDK calls: file
uploads (multipart `/v1/files`), fine-tuning jobs (create, retrieve, cancel), their
events (a metrics event per step) and checkpoints; a job advances one phase per
retrieve, so a polling client sees it queue, run and finish. It also serves the Batch API
(`/v1/batches`, file content downloads): a batch runs its lines through the chat route
when polled, and can be made to expire part way.

    with ScriptedOpenAI(responder=lambda body: '{"ok": true}', latency=0.2) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="x")
"""
from __future__ import annotations

import json
import math
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
            ("POST", "/v1/files"): self.create_file,
            ("POST", "/v1/fine_tuning/jobs"): self.create_job,
            ("POST", "/v1/batches"): self.create_batch,
        }
        # Routes with an id in the path: (method, regex) -> handler(request, match).
        self.pattern_routes: list[tuple[str, re.Pattern, Callable]] = [
            ("GET", re.compile(r"/v1/fine_tuning/jobs/([\w-]+)"), self.retrieve_job),
            ("GET", re.compile(r"/v1/fine_tuning/jobs/([\w-]+)/events"), self.job_events),
            ("GET", re.compile(r"/v1/fine_tuning/jobs/([\w-]+)/checkpoints"), self.job_checkpoints),
            ("POST", re.compile(r"/v1/fine_tuning/jobs/([\w-]+)/cancel"), self.cancel_job),
            ("GET", re.compile(r"/v1/batches/([\w-]+)"), self.retrieve_batch),
            ("GET", re.compile(r"/v1/files/([\w-]+)/content"), self.file_content),
        ]
        # Files and fine-tuning jobs (see the fine-tuning routes below).
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_events_log: dict[str, list[dict[str, Any]]] = {}
        self.job_checkpoints_log: dict[str, list[dict[str, Any]]] = {}
        self.fail_jobs = False  # True: jobs end as failed (a bad training file, say)
        # Batches (see the batch routes below).
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_expire_after: int | None = None  # lines run before a batch expires; None: never
        self.batch_polls_to_finish = 2  # retrieves a batch stays in_progress
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
                content_type = self.headers.get("Content-Type", "")
                if content_type.startswith("multipart/form-data"):
                    body = _parse_multipart(content_type, data)
                else:
                    try:
                        body = json.loads(text) if text else None
                    except json.JSONDecodeError:
                        body = text
                path = self.path.split("?", 1)[0]
                logged = LoggedRequest(method, path, body, {k.lower(): v for k, v in self.headers.items()},
                                        time.time())
                with server._lock:
                    server.requests.append(logged)
                handler = server.find_route(method, path)
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

    def find_route(self, method: str, path: str):
        handler = self.routes.get((method, path))
        if handler is not None:
            return handler
        for route_method, pattern, route in self.pattern_routes:
            match = pattern.fullmatch(path)
            if route_method == method and match:
                return lambda request, route=route, match=match: route(request, *match.groups())
        return None

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


    # ---- files and fine-tuning jobs ---------------------------------------------------
    # A job moves one phase per retrieve (GET /v1/fine_tuning/jobs/{id}), as a client that
    # polls sees it: validating_files -> running (one metrics event per step, decreasing
    # losses computed from the step) -> succeeded with a fine_tuned_model id (or failed).
    def create_file(self, request: LoggedRequest) -> ServerReply:
        form = request.body if isinstance(request.body, dict) else {}
        upload = form.get("file")
        if not isinstance(upload, dict) or form.get("purpose") not in ("fine-tune", "batch"):
            return ServerReply(status=400, raw=_error_body(
                "a multipart 'file' and purpose 'fine-tune' or 'batch' are required",
                "invalid_request_error"))
        return ServerReply(raw=json.dumps(self._file_object(
            self._store_file(upload["filename"], upload["content"], form["purpose"]))))

    def _store_file(self, filename: str, content: str, purpose: str) -> str:
        with self._lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = {"filename": filename, "content": content, "purpose": purpose}
        return file_id

    def _file_object(self, file_id: str) -> dict[str, Any]:
        stored = self.files[file_id]
        return {"id": file_id, "object": "file", "bytes": len(stored["content"]),
                "created_at": 0, "filename": stored["filename"], "purpose": stored["purpose"],
                "status": "processed"}

    def file_content(self, request: LoggedRequest, file_id: str) -> ServerReply:
        stored = self.files.get(file_id)
        if stored is None:
            return ServerReply(status=404, raw=_error_body(f"no file {file_id}", "not_found"))
        return ServerReply(raw=stored["content"], headers={"Content-Type": "application/octet-stream"})

    # ---- batches ---------------------------------------------------------------------
    # As documented for the Batch API: a JSONL input file of {custom_id, method, url, body}
    # lines; the batch goes validating -> in_progress (for `batch_polls_to_finish`
    # retrieves) -> completed, or expired when `batch_expire_after` is set (the lines
    # after that many get a `batch_expired` error). Each line is answered by the chat
    # completions route (responder and scripted faults alike); a 200 goes to the output
    # file, anything else to the error file, both as {id, custom_id, response, error}.
    def create_batch(self, request: LoggedRequest) -> ServerReply:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("input_file_id") not in self.files or body.get("endpoint") != "/v1/chat/completions" \
                or body.get("completion_window") != "24h":
            return ServerReply(status=400, raw=_error_body(
                "a known input_file_id, endpoint /v1/chat/completions and completion_window 24h "
                "are required", "invalid_request_error"))
        lines = [json.loads(x) for x in self.files[body["input_file_id"]]["content"].splitlines() if x.strip()]
        ids = [line.get("custom_id") for line in lines]
        if len(set(ids)) != len(ids) or any(line.get("url") != "/v1/chat/completions" for line in lines):
            return ServerReply(status=400, raw=_error_body(
                "custom_id must be unique and every url /v1/chat/completions", "invalid_request_error"))
        with self._lock:
            batch_id = f"batch-{len(self.batches) + 1}"
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                "input_file_id": body["input_file_id"], "completion_window": "24h",
                "status": "validating", "output_file_id": None, "error_file_id": None,
                "created_at": 0, "metadata": body.get("metadata"),
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "_lines": lines, "_polls": 0}
        return ServerReply(raw=json.dumps(self._public(self.batches[batch_id])))

    def retrieve_batch(self, request: LoggedRequest, batch_id: str) -> ServerReply:
        with self._lock:
            batch = self.batches.get(batch_id)
        if batch is None:
            return ServerReply(status=404, raw=_error_body(f"no batch {batch_id}", "not_found"))
        if batch["status"] == "validating":
            batch["status"] = "in_progress"
        elif batch["status"] == "in_progress":
            batch["_polls"] += 1
            if batch["_polls"] >= self.batch_polls_to_finish:
                self._run_batch(batch)
        return ServerReply(raw=json.dumps(self._public(batch)))

    def _run_batch(self, batch: dict[str, Any]) -> None:
        output, errors = [], []
        for n, line in enumerate(batch["_lines"]):
            record = {"id": f"batch_req_{batch['id']}_{n}", "custom_id": line["custom_id"]}
            if self.batch_expire_after is not None and n >= self.batch_expire_after:
                errors.append({**record, "response": None, "error": {
                    "code": "batch_expired",
                    "message": "This request could not be executed before the completion window expired."}})
                continue
            logged = LoggedRequest("POST", "/v1/chat/completions", line.get("body"), {}, time.time())
            with self._lock:
                self.requests.append(logged)
            reply = self.chat_completions(logged)
            response = {"status_code": reply.status, "request_id": f"req_{n}",
                        "body": json.loads(reply.raw) if reply.raw and reply.raw.startswith("{")
                        and reply.raw.rstrip().endswith("}") else reply.raw}
            (output if reply.status == 200 else errors).append({**record, "response": response,
                                                               "error": None})
        batch["request_counts"].update(completed=len(output), failed=len(errors))
        expired = self.batch_expire_after is not None and self.batch_expire_after < len(batch["_lines"])
        batch["status"] = "expired" if expired else "completed"
        jsonl = lambda rows: "".join(json.dumps(r) + "\n" for r in rows)  # noqa: E731
        if output:
            batch["output_file_id"] = self._store_file(f"{batch['id']}_output.jsonl", jsonl(output),
                                                       "batch_output")
        if errors:
            batch["error_file_id"] = self._store_file(f"{batch['id']}_error.jsonl", jsonl(errors),
                                                      "batch_output")

    def create_job(self, request: LoggedRequest) -> ServerReply:
        body = request.body if isinstance(request.body, dict) else {}
        missing = [f for f in ("training_file", "validation_file")
                   if body.get(f) is not None and body[f] not in self.files]
        if not body.get("model") or not body.get("training_file") or missing:
            return ServerReply(status=400, raw=_error_body(
                f"model and a known training_file are required (unknown: {missing})",
                "invalid_request_error"))
        hyper = dict(body.get("hyperparameters") or
                     (body.get("method") or {}).get("supervised", {}).get("hyperparameters") or {})
        lines = len([x for x in self.files[body["training_file"]]["content"].splitlines() if x.strip()])
        epochs = hyper.get("n_epochs") if hyper.get("n_epochs") not in (None, "auto") else 3
        batch = hyper.get("batch_size") if hyper.get("batch_size") not in (None, "auto") else 1
        hyper = {"n_epochs": epochs, "batch_size": batch,
                 "learning_rate_multiplier": hyper.get("learning_rate_multiplier") or 1.8}
        with self._lock:
            job_id = f"ftjob-{len(self.jobs) + 1}"
            self.jobs[job_id] = {
                "id": job_id, "object": "fine_tuning.job", "created_at": 0, "error": None,
                "fine_tuned_model": None, "finished_at": None, "hyperparameters": hyper,
                "model": body["model"], "organization_id": "org-wpqa-tests", "result_files": [],
                "seed": body.get("seed", 0), "status": "validating_files", "trained_tokens": None,
                "training_file": body["training_file"],
                "validation_file": body.get("validation_file"), "suffix": body.get("suffix"),
                "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
                "_steps": max(1, math.ceil(lines / batch) * epochs), "_lines": lines,
            }
            self.job_events_log[job_id] = []
            self.job_checkpoints_log[job_id] = []
            self._event(job_id, f"Created fine-tuning job: {job_id}")
        return ServerReply(raw=json.dumps(self._public(self.jobs[job_id])))

    def _event(self, job_id: str, message: str, data: dict | None = None) -> None:
        events = self.job_events_log[job_id]
        events.append({"id": f"ftevent-{job_id}-{len(events) + 1}",
                       "object": "fine_tuning.job.event", "created_at": len(events),
                       "level": "info", "message": message, "data": data or {},
                       "type": "metrics" if data else "message"})

    @staticmethod
    def _public(job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if not k.startswith("_") and k != "suffix"}

    def retrieve_job(self, request: LoggedRequest, job_id: str) -> ServerReply:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return ServerReply(status=404, raw=_error_body(f"no job {job_id}", "not_found"))
            if job["status"] == "validating_files":
                job["status"] = "running"
                self._event(job_id, "Fine-tuning job started")
            elif job["status"] == "running":
                self._finish(job)
        return ServerReply(raw=json.dumps(self._public(job)))

    def _finish(self, job: dict[str, Any]) -> None:
        job_id, steps = job["id"], job["_steps"]
        if self.fail_jobs:
            job["status"] = "failed"
            job["error"] = {"code": "invalid_training_file", "message": "training file invalid",
                            "param": "training_file"}
            self._event(job_id, "Fine-tuning job failed: training file invalid")
            return
        for step in range(1, steps + 1):
            data = {"step": step, "train_loss": round(2.0 / (1 + 0.25 * step), 4),
                    "train_mean_token_accuracy": round(1 - 1 / (1 + 0.25 * step), 4),
                    "total_steps": steps}
            if job["validation_file"]:
                data["valid_loss"] = round(2.1 / (1 + 0.2 * step), 4)
            self._event(job_id, f"Step {step}/{steps}: training loss={data['train_loss']}", data)
        name = f"ft:{job['model']}:wpqa-tests:{job['suffix'] or ''}:{job_id}"
        self.job_checkpoints_log[job_id].append({
            "id": f"ftckpt-{job_id}", "object": "fine_tuning.job.checkpoint", "created_at": 0,
            "fine_tuned_model_checkpoint": name, "fine_tuning_job_id": job_id,
            "step_number": steps, "metrics": {"step": steps, "train_loss": data["train_loss"],
                                              "valid_loss": data.get("valid_loss")}})
        job.update(status="succeeded", fine_tuned_model=name, finished_at=1,
                   trained_tokens=job["_lines"] * 50 * job["hyperparameters"]["n_epochs"])
        self._event(job_id, f"New fine-tuned model created: {name}")
        self._event(job_id, "The job has successfully completed")

    def job_events(self, request: LoggedRequest, job_id: str) -> ServerReply:
        if job_id not in self.jobs:
            return ServerReply(status=404, raw=_error_body(f"no job {job_id}", "not_found"))
        newest_first = list(reversed(self.job_events_log[job_id]))
        return ServerReply(raw=json.dumps({"object": "list", "data": newest_first,
                                           "has_more": False}))

    def job_checkpoints(self, request: LoggedRequest, job_id: str) -> ServerReply:
        if job_id not in self.jobs:
            return ServerReply(status=404, raw=_error_body(f"no job {job_id}", "not_found"))
        return ServerReply(raw=json.dumps({"object": "list", "has_more": False,
                                           "data": self.job_checkpoints_log[job_id],
                                           "first_id": None, "last_id": None}))

    def cancel_job(self, request: LoggedRequest, job_id: str) -> ServerReply:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return ServerReply(status=404, raw=_error_body(f"no job {job_id}", "not_found"))
            job["status"] = "cancelled"
            self._event(job_id, "Fine-tuning job cancelled")
        return ServerReply(raw=json.dumps(self._public(job)))


def _parse_multipart(content_type: str, data: bytes) -> dict[str, Any]:
    """A multipart/form-data body as {field: value}; a file field as {filename, content}."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + data)
    form: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        form[name] = ({"filename": filename, "content": payload.decode("utf-8")} if filename
                      else payload.decode("utf-8"))
    return form


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
