"""A real OpenAI-compatible HTTP server on 127.0.0.1 that fails on cue.

Tests drive the real SDK over real sockets, so timeouts, dropped connections and broken
bodies are the ones production sees. Stdlib only, threaded (latency never serialises
requests) and keep-alive, so it is also fast enough for throughput benches::

    rate_limited = Fault.http(429, {"Retry-After": "0.1"})
    server = FakeOpenAIServer(latency=0.1, faults={"2+2?": [rate_limited, 500, "truncated"]})
    with server as base_url:
        ...  # the 4th request for "2+2?" succeeds
    assert max(server.success_counts.values()) == 1

A request's *key* is the content of its last user message (chat) or its prompt (completions);
faults for an embeddings request are scripted under :func:`embedding_key` of its texts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import select
import socket
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, get_args

FaultKind = Literal["http", "truncated", "html", "no_choices", "sse", "drop", "hang"]
_KINDS: tuple[str, ...] = get_args(FaultKind)
Responder = Callable[[dict[str, Any]], str]
#: Request JSON -> the tool calls to answer with: ``{"name": ..., "arguments": ...}`` each,
#: arguments a dict (sent as its JSON) or the exact text to send.
ToolCaller = Callable[[dict[str, Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Fault:
    """One injected failure.

    ``http``: status ``status`` with an OpenAI-shaped JSON error and ``headers``;
    ``truncated``: 200 with half a JSON body; ``html``: 200 with an HTML page;
    ``no_choices``: 200 JSON without ``choices``; ``sse``: 200 ``text/event-stream`` chunks (a
    broken proxy streaming to a non-streaming request); ``drop``: close the socket without a reply;
    ``hang``: wait ``delay`` seconds, then drop (a client timeout that never succeeds late).
    """

    kind: FaultKind
    status: int = 500
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 30.0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(_KINDS)}")

    @classmethod
    def http(cls, status: int, headers: Mapping[str, str] | None = None) -> Fault:
        return cls("http", status=status, headers=dict(headers or {}))

    @classmethod
    def of(cls, spec: FaultSpec) -> Fault:
        """A fault from shorthand: an int is an HTTP status, a str a kind."""
        if isinstance(spec, Fault):
            return spec
        if isinstance(spec, int):
            return cls.http(spec)
        return cls(spec)  # type: ignore[arg-type]

    @property
    def label(self) -> str:
        """How it is counted: the status for ``http``, else the kind."""
        return str(self.status) if self.kind == "http" else self.kind


FaultSpec = Fault | int | str
DEFAULT_RANDOM_FAULTS: tuple[FaultSpec, ...] = (
    Fault.http(429, {"Retry-After": "0"}),
    500,
    503,
    "truncated",
    "drop",
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. ``outcome``: "ok", a fault label, the status of a refusal
    (401, 404, 400), or "client_gone" (the client hung up before its answer was ready)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    key: str | None
    outcome: str


class FakeOpenAIServer:
    """``/v1/chat/completions``, ``/v1/completions`` and ``/v1/models`` with scripted faults.

    * ``latency``: seconds every request waits before its reply (in its own thread).
    * ``responder``: request JSON -> reply text; default ``"ECHO: <key>"``.
    * ``faults``: key -> faults served, in order, to that key's next requests.
    * ``fault_rate`` / ``seed`` / ``random_faults``: once a key's script is used up, each
      request fails with this probability, with a fault drawn from ``random_faults``;
      ``max_random_faults_per_key`` bounds that per key, so every key succeeds eventually.
    * ``expected_api_key``: when set, other ``Authorization`` headers get 401.
    * ``echo_auth``: every reply carries the request's ``Authorization`` header, as a leaky
      server or proxy would: JSON replies in an ``echo`` field, error messages, HTML pages
      and event streams in their text (half a JSON body keeps it in the half that is sent).
    * ``models``: when set, other models get 404 (and ``/v1/models`` lists them).
    * ``embedder``: text -> vector for ``/v1/embeddings`` (default :func:`hash_vector`).
    * ``top_logprobs``: request JSON -> ``{token: logprob}``; a chat request with
      ``logprobs: true`` gets the ``top_logprobs`` best of them as its first token's
      alternatives (the reply's text is still the responder's).
    * ``echo_logprobs``: request JSON -> a completions ``logprobs`` object (``tokens``,
      ``token_logprobs``, ``top_logprobs``, ``text_offset``) of the prompt and its generated
      tokens; a completions request with ``echo`` gets it, and the prompt before its text
      (as ``vllm serve`` answers ``echo: true, logprobs: N``).
    * ``tool_caller``: a chat request with ``tools`` is answered with the tool calls it
      returns (no text, finish reason ``tool_calls``); an empty list: the responder's text.
      Default :func:`call_first_tool`.

    Counters (read them after the requests have finished): ``requests``, ``success_counts``
    (key -> successful replies, counted only when the client was still there to read them),
    ``fault_counts`` (label -> faults served), ``max_in_flight``.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        responder: Responder | None = None,
        faults: Mapping[str, Iterable[FaultSpec]] | None = None,
        fault_rate: float = 0.0,
        seed: int = 0,
        random_faults: Sequence[FaultSpec] = DEFAULT_RANDOM_FAULTS,
        max_random_faults_per_key: int | None = None,
        expected_api_key: str | None = None,
        echo_auth: bool = False,
        models: Sequence[str] | None = None,
        top_logprobs: Callable[[dict[str, Any]], dict[str, float]] | None = None,
        echo_logprobs: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        embedder: Callable[[str], list[float]] | None = None,
        tool_caller: ToolCaller | None = None,
    ) -> None:
        self.latency = latency
        self.tool_caller = tool_caller or call_first_tool
        self.embedder = embedder or hash_vector
        self.top_logprobs = top_logprobs
        self.echo_logprobs = echo_logprobs
        self.responder = responder or echo
        self.fault_rate = fault_rate
        self.random_faults = [Fault.of(f) for f in random_faults]
        self.max_random_faults_per_key = max_random_faults_per_key
        self.expected_api_key = expected_api_key
        self.echo_auth = echo_auth
        self.models = list(models) if models is not None else None
        self.requests: list[RecordedRequest] = []
        self.success_counts: Counter[str] = Counter()
        self.fault_counts: Counter[str] = Counter()
        self.max_in_flight = 0
        self._in_flight = 0
        self._random = random.Random(seed)
        self._random_per_key: Counter[str] = Counter()
        self._script: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        for key, specs in (faults or {}).items():
            self.add_faults(key, *specs)

    def add_faults(self, key: str, *faults: FaultSpec) -> None:
        """Queue more faults for ``key``'s next requests."""
        with self._lock:
            self._script.setdefault(key, deque()).extend(Fault.of(f) for f in faults)

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not running; use it as a context manager")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> str:
        self._closing.clear()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler, self)
        # A short poll keeps close() (which waits for the next poll) quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="fake-openai", daemon=True
        )
        self._thread.start()
        return self.base_url

    def close(self) -> None:
        """Stop serving, wake sleeping handlers and cut idle keep-alive connections."""
        if self._httpd is None or self._thread is None:
            return
        self._closing.set()
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _next_fault(self, key: str | None, *, scripted_only: bool = False) -> Fault | None:
        with self._lock:
            queue = self._script.get(key) if key is not None else None
            if queue:
                return queue.popleft()
            if scripted_only or self.fault_rate <= 0 or not self.random_faults or key is None:
                return None
            limit = self.max_random_faults_per_key
            if limit is not None and self._random_per_key[key] >= limit:
                return None
            if self._random.random() >= self.fault_rate:
                return None
            self._random_per_key[key] += 1
            return self._random.choice(self.random_faults)

    def _record(self, request: RecordedRequest, *, fault: bool = False) -> None:
        with self._lock:
            self.requests.append(request)
            if fault:
                self.fault_counts[request.outcome] += 1
            elif request.outcome == "ok" and request.key is not None:
                self.success_counts[request.key] += 1

    def _enter(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _leave(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _busy(self, delta: int) -> None:
        with self._lock:
            self._in_flight += delta
            self.max_in_flight = max(self.max_in_flight, self._in_flight)


def echo(body: dict[str, Any]) -> str:
    """The default responder: a deterministic answer derived from the prompt."""
    return f"ECHO: {prompt_key(body)}"


def call_first_tool(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The default tool caller: the function ``tool_choice`` names, else the first tool,
    with ``{"query": <key>}``; none for ``tool_choice: none``."""
    choice = body.get("tool_choice")
    if choice == "none":
        return []
    if isinstance(choice, dict):
        name = choice["function"]["name"]
    else:
        name = body["tools"][0]["function"]["name"]
    return [{"name": name, "arguments": {"query": prompt_key(body)}}]


def embedding_key(texts: Sequence[str]) -> str:
    """The fault-script key of an embeddings request: its texts, one a line (only scripted
    faults hit embeddings, never random ones)."""
    return "\n".join(texts)


def hash_vector(text: str, dim: int = 8) -> list[float]:
    """The default embedding: a deterministic vector derived from the text's hash."""
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255 - 0.5 for b in digest[:dim]]


def prompt_key(body: dict[str, Any]) -> str | None:
    """The last user message's content (chat) or the prompt (completions)."""
    if "messages" in body:
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        users = [m for m in messages if m.get("role") == "user"] or messages
        return _text(users[-1].get("content")) if users else None
    if "prompt" in body:
        return _text(body["prompt"])
    return None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    return json.dumps(content)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], handler: type, fake: FakeOpenAIServer):
        self.fake = fake
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (and ``close()`` cutting them off) is routine, not an error."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every reply carries Content-Length
    disable_nagle_algorithm = True  # headers and body go out as two writes
    server: _HTTPServer
    #: The request's Authorization header when the server echoes it (``echo_auth``).
    _echo: str | None = None

    def setup(self) -> None:
        super().setup()
        self.server.fake._enter(self.connection)

    def finish(self) -> None:
        self.server.fake._leave(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a bench makes thousands of requests."""

    def do_GET(self) -> None:
        self._serve(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(self.rfile.read(length))

    def _serve(self, raw: bytes | None) -> None:
        fake = self.server.fake
        fake._busy(+1)
        try:
            fake._closing.wait(fake.latency)
            self._reply(fake, raw)
        finally:
            fake._busy(-1)

    def _reply(self, fake: FakeOpenAIServer, raw: bytes | None) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        body: Any = None
        key: str | None = None
        if raw is not None:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            if isinstance(body, dict):
                key = prompt_key(body)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._echo = headers.get("authorization", "") if fake.echo_auth else None

        def record(outcome: str, *, fault: bool = False) -> None:
            request = RecordedRequest(self.command, path, headers, body, key, outcome)
            fake._record(request, fault=fault)

        expected = fake.expected_api_key
        if expected is not None and headers.get("authorization") != f"Bearer {expected}":
            record("401")
            return self._error(401, "Incorrect API key provided.", "invalid_api_key")
        if raw is None:
            if path != "/v1/models":
                record("404")
                return self._error(404, f"Unknown path {path}.", "unknown_url")
            record("ok")
            return self._json(200, _model_list(fake.models or ["fake-model"]))
        if path == "/v1/embeddings" and isinstance(body, dict) and "input" in body:
            texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
            fault = fake._next_fault(embedding_key(texts), scripted_only=True)
            if fault is not None:
                record(fault.label, fault=True)
                return self._fault(fake, fault, path, body)
            record("ok")
            return self._json(200, _embeddings(fake, texts, body.get("model")))
        if path not in ("/v1/chat/completions", "/v1/completions"):
            record("404")
            return self._error(404, f"Unknown path {path}.", "unknown_url")
        if not isinstance(body, dict) or key is None:
            record("400")
            return self._error(400, "Expected a JSON object with messages or prompt.", None)
        model = body.get("model")
        if fake.models is not None and model not in fake.models:
            record("404")
            return self._error(404, f"The model `{model}` does not exist.", "model_not_found")
        fault = fake._next_fault(key)
        if fault is not None:
            record(fault.label, fault=True)
            return self._fault(fake, fault, path, body)
        reply = _completion(path, body, fake.responder(body))
        if "messages" in body and body.get("tools"):
            _answer_with_tool_calls(reply, fake.tool_caller(body))
        if fake.top_logprobs is not None and body.get("logprobs") and "messages" in body:
            reply["choices"][0]["logprobs"] = _logprobs(fake.top_logprobs(body), body)
        if fake.echo_logprobs is not None and body.get("echo") and "prompt" in body:
            choice = reply["choices"][0]
            choice["logprobs"] = fake.echo_logprobs(body)
            choice["text"] = _text(body["prompt"]) + choice["text"]
        if self._client_gone():
            record("client_gone")
            self.close_connection = True
            return None
        record("ok")
        return self._json(200, reply)

    def _fault(self, fake: FakeOpenAIServer, fault: Fault, path: str, body: dict) -> None:
        if fault.kind == "http":
            return self._error(fault.status, f"Injected HTTP {fault.status}.", None, fault.headers)
        if fault.kind == "truncated":
            data = json.dumps(self._echoed(_completion(path, body, "truncated"))).encode()
            return self._send(200, data[: len(data) // 2], "application/json")
        if fault.kind == "html":
            echo = f"<p>{self._echo}</p>" if self._echo is not None else ""
            page = f"<html><body><h1>502 Bad Gateway</h1>{echo}</body></html>".encode()
            return self._send(200, page, "text/html")
        if fault.kind == "no_choices":
            return self._json(200, {"id": "fake", "object": "chat.completion", "model": "x"})
        if fault.kind == "sse":
            chunk = self._echoed(_chunk(body, "streamed"))
            stream = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
            return self._send(200, stream, "text/event-stream")
        if fault.kind == "hang":
            fake._closing.wait(fault.delay)
        self.close_connection = True  # "drop", and "hang" once it is over
        return None

    def _client_gone(self) -> bool:
        """True when the client hung up (e.g. timed out) while we were busy."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _error(
        self, status: int, message: str, code: str | None, headers: Mapping[str, str] | None = None
    ) -> None:
        if self._echo is not None:
            message += f" (you sent Authorization: {self._echo})"
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
        self._json(status, {"error": error}, headers)

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(self._echoed(payload)).encode()
        self._send(status, data, "application/json", headers)

    def _echoed(self, payload: Any) -> Any:
        """``payload`` with the request's Authorization header first, in echo mode."""
        if self._echo is None or not isinstance(payload, dict):
            return payload
        return {"echo": self._echo, **payload}

    def _send(
        self, status: int, data: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _completion(path: str, body: dict[str, Any], text: str) -> dict[str, Any]:
    """An OpenAI-shaped reply, honouring ``stop`` and ``max_tokens`` (one token per word)."""
    finish_reason = "stop"
    stops = body.get("stop") or []
    for stop in [stops] if isinstance(stops, str) else stops:
        if stop and stop in text:
            text = text[: text.index(stop)]
    words = text.split()
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and len(words) > max_tokens:
        words, finish_reason = words[:max_tokens], "length"
        text = " ".join(words)
    if "messages" in body:
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        prompt_words = sum(len(_text(m.get("content")).split()) for m in messages)
        choice: dict[str, Any] = {"message": {"role": "assistant", "content": text}}
        kind = "chat.completion"
    else:
        prompt_words = len(_text(body.get("prompt")).split())
        choice = {"text": text}
        kind = "text_completion"
    choice |= {"index": 0, "finish_reason": finish_reason, "logprobs": None}
    return {
        "id": f"fake-{path.rsplit('/', 1)[-1]}",
        "object": kind,
        "created": 0,
        "model": body.get("model", "fake-model"),
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt_words,
            "completion_tokens": len(words),
            "total_tokens": prompt_words + len(words),
        },
    }


def _answer_with_tool_calls(reply: dict[str, Any], calls: list[dict[str, Any]]) -> None:
    """Turn a chat ``reply`` into one calling ``calls`` (unchanged when there are none)."""
    if not calls:
        return
    choice = reply["choices"][0]
    choice["finish_reason"] = "tool_calls"
    choice["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": call["arguments"]
                    if isinstance(call["arguments"], str)
                    else json.dumps(call["arguments"]),
                },
            }
            for i, call in enumerate(calls)
        ],
    }


def _chunk(body: dict[str, Any], text: str) -> dict[str, Any]:
    """One streamed chat chunk carrying the whole answer."""
    delta = {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    kind, model = "chat.completion.chunk", body.get("model", "fake-model")
    return {"id": "fake-chunk", "object": kind, "model": model, "choices": [delta]}


def _logprobs(alternatives: dict[str, float], body: dict[str, Any]) -> dict[str, Any]:
    """Chat ``logprobs`` for one generated token: the best ``top_logprobs`` alternatives."""
    best = sorted(alternatives.items(), key=lambda kv: -kv[1])[: body.get("top_logprobs") or 0]
    top = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in best]
    token, logprob = max(alternatives.items(), key=lambda kv: kv[1])
    first = {"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": top}
    return {"content": [first], "refusal": None}


def _embeddings(fake: FakeOpenAIServer, texts: list[str], model: Any) -> dict[str, Any]:
    data = [
        {"object": "embedding", "index": i, "embedding": fake.embedder(t)}
        for i, t in enumerate(texts)
    ]
    tokens = sum(len(t.split()) for t in texts)
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return {"object": "list", "data": data, "model": model or "fake-embed", "usage": usage}


def _model_list(models: list[str]) -> dict[str, Any]:
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in models]
    return {"object": "list", "data": data}
