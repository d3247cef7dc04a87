"""OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp, DeepSeek, Qwen...).

One POST per :meth:`OpenAIProvider.generate`, sent without the official SDK (see
:mod:`harness.providers.openai_http` for why) and never retried here: the runner owns
retries, backoff and Retry-After, so this module only has to say which failures are worth
retrying (:func:`status_error`; :func:`map_error` for the SDK that embeddings still use).
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

from pydantic import ValidationError

from harness.errors import (
    AuthError,
    PermanentProviderError,
    ProviderError,
    RateLimitError,
    TransientProviderError,
)
from harness.providers.base import Generation, ModelRequest, Provider
from harness.providers.openai_http import JsonClient, Reply
from harness.suite.schema import GenerationParams, OpenAIProviderConfig

if TYPE_CHECKING:
    import openai

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: What is sent as the key when ``api_key_env`` is null (local servers ignore it).
NO_KEY = "not-needed"
#: Characters of a provider error's message kept (after the key is scrubbed from all of it).
MESSAGE_LIMIT = 300
#: Statuses below 500 that are still worth retrying (timeout, lock conflict, too early).
_TRANSIENT_4XX = {408, 409, 425}


class OpenAIProvider(Provider):
    """Chat or completions calls to ``config.base_url`` with ``config.model``."""

    type_name = "openai"
    config: OpenAIProviderConfig

    def __init__(self, config: OpenAIProviderConfig) -> None:
        super().__init__(config)
        self._base_url = normalise_base_url(config.base_url)
        # Always an explicit base_url: OPENAI_BASE_URL never silently changes the identity.
        api_key = read_api_key(config.api_key_env, f"provider {config.id!r}")
        self._client = JsonClient(self._base_url, api_key, config.timeout)
        self._scrub = KeyScrubber(api_key if config.api_key_env else None)

    def __repr__(self) -> str:
        return f"OpenAIProvider(id={self.id!r}, model={self.model!r}, base_url={self._base_url!r})"

    def identity(self) -> dict[str, str]:
        return {
            "type": self.type_name,
            "base_url": self._base_url,
            "endpoint": self.config.endpoint,
            "model": self.model,
        }

    @property
    def request_features(self) -> frozenset[str]:
        """Chat sends tools and response_format; completions has no tools to send."""
        chat = self.config.endpoint == "chat"
        return frozenset({"tools", "response_format"} if chat else {"response_format"})

    async def generate(self, request: ModelRequest) -> Generation:
        with provider_errors(self._scrub, self._hint):
            return await self._generate(request)

    async def _generate(self, request: ModelRequest) -> Generation:
        body = {"model": self.model, **_sdk_params(request.params)}
        body.update(body.pop("extra_body", None) or {})
        if self.config.endpoint == "chat":
            path = "/chat/completions"
            body["messages"] = [m.model_dump() for m in request.messages]
            if request.tools is not None:
                body["tools"] = list(request.tools)
            if request.tool_choice is not None:
                body["tool_choice"] = request.tool_choice
        else:
            path = "/completions"
            body["prompt"] = request.as_prompt()
        reply = await self._client.post(path, body)
        if reply.status >= 400:
            raise reply_error(reply)
        return parse_reply(reply.content(), self.config.endpoint)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _hint(self, error: ProviderError) -> ProviderError:
        """An AuthError names where the key comes from (or that none was sent)."""
        if isinstance(error, AuthError):
            env = self.config.api_key_env
            hint = (
                f" (provider {self.id!r}: check the key in ${env} and its access to the model)"
                if env
                else f" (provider {self.id!r} sent no key: set `api_key_env` if it needs one)"
            )
            error.args = (str(error) + hint,)
        return error


class KeyScrubber:
    """Removes an API key from text in every form a server may echo it back in.

    A proxy or a server that echoes the request (its ``Authorization: Bearer <key>``
    header) may hand the key back as-is, inside a JSON string (backslash-escaped), in a
    URL or form body (percent-encoded), or as the base64 of the key. Each of those forms
    becomes ``***``; a placeholder key (no ``api_key_env``) is no secret and stays.
    """

    def __init__(self, key: str | None) -> None:
        self._forms = sorted(_encodings(key), key=len, reverse=True) if key else []

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, "***")
        return text


def _encodings(key: str) -> set[str]:
    raw = key.encode()
    return {
        key,
        json.dumps(key)[1:-1],
        key.replace("/", "\\/"),
        quote(key, safe=""),
        quote_plus(key),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    } - {""}


@contextlib.contextmanager
def provider_errors(
    scrub: KeyScrubber, describe: Callable[[ProviderError], ProviderError] | None = None
) -> Iterator[None]:
    """The one path every failure of a call (and of reading its reply) leaves by: whatever
    raised it, it becomes a :class:`ProviderError` (:func:`map_error`) whose message is
    scrubbed of the key, then cut (after scrubbing, so a cut never leaves part of a key
    behind); ``describe`` may then add our own words (a hint no cut may drop). The original
    exception is not chained: its text (the server's body) may hold the key."""
    try:
        yield
    except Exception as exc:
        error = exc if isinstance(exc, ProviderError) else map_error(exc)
        error.args = (_cut(scrub(str(error))),)
        raise (describe(error) if describe is not None else error) from None


def _cut(message: str) -> str:
    return message if len(message) <= MESSAGE_LIMIT else message[:MESSAGE_LIMIT] + "..."


def normalise_base_url(base_url: str | None) -> str:
    """``base_url`` with a lower-case scheme and host and no trailing slash, so that
    equivalent spellings share one identity (and one cache)."""
    parts = urlsplit((base_url or DEFAULT_BASE_URL).strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise PermanentProviderError(
            f"base_url {base_url!r} is not a URL: write it like http://localhost:8000/v1"
        )
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, "")
    )


def read_api_key(api_key_env: str | None, owner: str) -> str:
    """The key in ``$api_key_env`` (a placeholder when None: a local server needs none)."""
    if api_key_env is None:
        return NO_KEY
    key = os.environ.get(api_key_env)
    if not key:
        raise AuthError(
            f"No {api_key_env} in the environment ({owner}, `api_key_env`). "
            f"Set it with `export {api_key_env}=...`, or use `api_key_env: null` "
            "for a local server that needs no key."
        )
    return key


def _sdk_params(params: dict[str, Any]) -> dict[str, Any]:
    """The request's sampling params as SDK keyword arguments, only those that are set."""
    try:
        checked = GenerationParams.model_validate(params)
    except ValidationError as exc:
        raise PermanentProviderError(f"invalid generation params: {exc}") from exc
    return checked.model_dump(exclude_none=True)


def parse_reply(reply: object, endpoint: str) -> Generation:
    """The first choice's text, usage and finish reason; anything missing is a malformed reply.
    ``reply`` is the parsed JSON (or the text of a body that is not JSON), or an SDK object."""
    choices = _field(reply, "choices")
    if not isinstance(choices, list) or not choices:
        raise TransientProviderError(f"malformed response: no choices in {as_text(reply)}")
    choice = choices[0]
    if endpoint == "chat":
        message = _field(choice, "message")
        if message is None:
            raise TransientProviderError("malformed response: choice without a message")
        # None is legitimate (a refusal or a tool call): no text.
        text = _field(message, "content") or ""
        tool_calls = _tool_calls(message)
    else:
        text, tool_calls = _field(choice, "text"), None
    if not isinstance(text, str):
        raise TransientProviderError(f"malformed response: no text in {as_text(choice)}")
    usage = _field(reply, "usage")
    finish_reason = _field(choice, "finish_reason")
    return Generation(
        text=text,
        prompt_tokens=_count(_field(usage, "prompt_tokens")),
        completion_tokens=_count(_field(usage, "completion_tokens")),
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        top_logprobs=_top_logprobs(choice),
        tool_calls=tool_calls,
    )


def _tool_calls(message: object) -> list[dict[str, Any]] | None:
    """The message's ``tool_calls``, each as ``{id, type, name, arguments, arguments_raw}``:
    ``arguments`` parsed from the JSON text the model wrote, or None when that text is not
    JSON (kept as written in ``arguments_raw``, for scorers to say so); None: no calls."""
    calls = _field(message, "tool_calls")
    if not calls:
        return None
    if not isinstance(calls, list):
        raise TransientProviderError(f"malformed response: tool_calls is {as_text(calls)}")
    return [_tool_call(call) for call in calls]


def _tool_call(call: object) -> dict[str, Any]:
    function = _field(call, "function")
    name, raw = _field(function, "name"), _field(function, "arguments")
    if not isinstance(name, str) or not isinstance(raw, str):
        raise TransientProviderError(
            f"malformed response: a tool call without a function name and arguments: "
            f"{as_text(call)}"
        )
    return {
        "id": _field(call, "id"),
        "type": _field(call, "type") or "function",
        "name": name,
        "arguments": _json_or_none(raw),
        "arguments_raw": raw,
    }


def _json_or_none(text: str) -> Any:
    """Strict JSON (no NaN or Infinity, which no JSON store keeps), or None."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _top_logprobs(choice: object) -> list[dict[str, float]] | None:
    """A chat choice's ``logprobs.content[i].top_logprobs`` as ``{token: logprob}`` per
    generated token; None when the request did not ask for logprobs."""
    content = _field(_field(choice, "logprobs"), "content")
    if not isinstance(content, list):
        return None
    return [
        {
            _field(alt, "token"): float(_field(alt, "logprob"))
            for alt in _field(item, "top_logprobs") or []
        }
        for item in content
    ]


def _field(obj: object, name: str) -> Any:
    """A key of a JSON object, or an attribute of an SDK object."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def reply_error(reply: Reply) -> ProviderError:
    """The error for a reply with an error status, in the server's own words: the
    ``error.message`` of an OpenAI-shaped body, else the body (as the SDK reported it)."""
    try:
        body = json.loads(reply.text)
    except ValueError:
        body = reply.text
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message = error["message"]
    elif isinstance(error, str) and error.strip():
        message = error
    else:
        message = f"Error code: {reply.status}" + (f" - {error}" if error else "")
    code = error.get("code") if isinstance(error, dict) else None
    return status_error(reply.status, message, reply.headers, code=code)


def map_error(exc: Exception) -> ProviderError:
    """The harness error for a failure that is not one yet (an SDK error, a bug): permanent
    where retrying cannot help, transient (and so retried by the runner) where it may. Its
    message may quote the server, key and all: callers go through :func:`provider_errors`,
    which scrubs it."""
    # Only embeddings import the SDK: while it is not imported, nothing raised is its.
    sdk = sys.modules.get("openai")
    if sdk is not None and isinstance(exc, sdk.OpenAIError):
        return _sdk_error(exc, sdk)
    if isinstance(exc, ValueError):  # the SDK lets JSONDecodeError out of a broken 200 body
        return TransientProviderError(f"malformed response: {type(exc).__name__}: {exc}")
    return PermanentProviderError(f"unexpected {type(exc).__name__}: {exc}")


def _sdk_error(exc: openai.OpenAIError, sdk: Any) -> ProviderError:
    if isinstance(exc, sdk.APIStatusError):
        return status_error(
            exc.status_code, _server_message(exc), exc.response.headers, code=exc.code
        )
    if isinstance(exc, sdk.APIResponseValidationError):
        return TransientProviderError(f"malformed response: {exc.message}", exc.status_code)
    if isinstance(exc, sdk.APIConnectionError):
        root = _root_cause(exc)
        # The SDK's aiohttp transport reports refused and dropped connections as timeouts:
        # the root cause tells them apart.
        if isinstance(root, TimeoutError | sdk.APITimeoutError):
            return TransientProviderError("request timed out")
        return TransientProviderError(f"connection failed ({type(root).__name__}: {root})")
    return PermanentProviderError(f"unexpected {type(exc).__name__}: {exc}")


def status_error(
    status: int, message: str, headers: Mapping[str, str], *, code: object = None
) -> ProviderError:
    """The error for an HTTP error ``status``, one policy for every HTTP provider (``openai``,
    ``http``): 401/403 stop the run (AuthError); 429 is retried after Retry-After, unless it
    is OpenAI's out-of-quota ``code``; 5xx and 408/409/425 are retried; any other 4xx fails
    the case at once."""
    text = f"HTTP {status}: {message}"
    if status in (401, 403):
        return AuthError(text, status)
    if status == 429 and code == "insufficient_quota":
        # OpenAI's "out of credit" is a 429 that no amount of waiting fixes.
        return PermanentProviderError(text, status)
    if status == 429:
        return RateLimitError(text, status, retry_after(headers))
    if status >= 500 or status in _TRANSIENT_4XX:
        # A 503 may say when to come back, too.
        return TransientProviderError(text, status, retry_after(headers))
    return PermanentProviderError(text, status)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms``, or ``Retry-After`` as seconds or an HTTP date."""
    millis = _number(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return max(0.0, number) if math.isfinite(number) else None


def _server_message(exc: openai.APIStatusError) -> str:
    """The server's own words: ``error.message`` of an OpenAI-shaped body, else the body."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    if isinstance(body, str) and body.strip():
        return body
    return exc.message


def _count(value: object) -> int | None:
    return value if isinstance(value, int) else None


def as_text(value: object) -> str:
    """A reply (or part of one) for an error message: the text the server sent, or the repr
    of what the SDK made of it. Whole: :func:`provider_errors` scrubs before it cuts."""
    return value if isinstance(value, str) else repr(value)
