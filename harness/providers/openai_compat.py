"""OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp, DeepSeek, Qwen...).

One call per :meth:`OpenAIProvider.generate`, through the official SDK with its own retries
switched off: the runner owns retries, backoff and Retry-After, so this module only has to
say which failures are worth retrying (:func:`map_error`).
"""

from __future__ import annotations

import email.utils
import math
import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai
from openai.types import Completion
from openai.types.chat import ChatCompletion
from pydantic import ValidationError

from harness.errors import (
    AuthError,
    PermanentProviderError,
    ProviderError,
    RateLimitError,
    TransientProviderError,
)
from harness.providers.base import Generation, ModelRequest, Provider
from harness.suite.schema import GenerationParams, OpenAIProviderConfig

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: What the SDK gets as a key when ``api_key_env`` is null (local servers ignore it).
NO_KEY = "not-needed"
#: Statuses below 500 that are still worth retrying (timeout, lock conflict, too early).
_TRANSIENT_4XX = {408, 409, 425}


class OpenAIProvider(Provider):
    """Chat or completions calls to ``config.base_url`` with ``config.model``."""

    type_name = "openai"
    config: OpenAIProviderConfig

    def __init__(self, config: OpenAIProviderConfig) -> None:
        super().__init__(config)
        self._base_url = normalise_base_url(config.base_url)
        # An explicit base_url keeps OPENAI_BASE_URL from silently changing the identity.
        self._client = openai.AsyncOpenAI(
            base_url=self._base_url,
            api_key=read_api_key(config.api_key_env, f"provider {config.id!r}"),
            max_retries=0,
            timeout=config.timeout,
            http_client=_http_client(),
        )

    def __repr__(self) -> str:
        return f"OpenAIProvider(id={self.id!r}, model={self.model!r}, base_url={self._base_url!r})"

    def identity(self) -> dict[str, str]:
        return {
            "type": self.type_name,
            "base_url": self._base_url,
            "endpoint": self.config.endpoint,
            "model": self.model,
        }

    async def generate(self, request: ModelRequest) -> Generation:
        body = {"model": self.model, **_sdk_params(request.params)}
        body.update(body.pop("extra_body", None) or {})
        if self.config.endpoint == "chat":
            path, cast_to = "/chat/completions", ChatCompletion
            body["messages"] = [m.model_dump() for m in request.messages]
        else:
            path, cast_to = "/completions", Completion
            body["prompt"] = request.as_prompt()
        try:
            # The client's generic `post` skips the SDK's per-call TypedDict transform of an
            # already-plain JSON body, which costs more CPU than the whole rest of a request.
            reply = await self._client.post(path, body=body, cast_to=cast_to)
        except (openai.OpenAIError, ValueError) as exc:
            # ValueError: the SDK lets json.JSONDecodeError out of a 200 with a broken body.
            raise self._error(exc) from exc
        return parse_reply(reply, self.config.endpoint)

    async def aclose(self) -> None:
        await self._client.close()

    def _error(self, exc: Exception) -> ProviderError:
        """:func:`map_error`, with the key scrubbed and a hint naming where the key comes from."""
        secret = self._client.api_key if self.config.api_key_env else None
        error = map_error(exc, secret=secret)
        if isinstance(error, AuthError):
            env = self.config.api_key_env
            hint = (
                f" (provider {self.id!r}: check the key in ${env} and its access to the model)"
                if env
                else f" (provider {self.id!r} sent no key: set `api_key_env` if it needs one)"
            )
            error = AuthError(str(error) + hint, status=error.status)
        return error


def _http_client() -> openai.DefaultAioHttpClient | None:
    """The SDK's aiohttp transport (``openai[aiohttp]``): about half the CPU per request of
    its default httpx one, which decides throughput at high concurrency."""
    try:
        import aiohttp  # noqa: F401 - only checks that the extra is installed
    except ImportError:
        return None
    return openai.DefaultAioHttpClient()


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
    """The first choice's text, usage and finish reason; anything missing is a malformed reply
    (the SDK does not validate, and returns a bare ``str`` for a non-JSON body)."""
    choices = getattr(reply, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise TransientProviderError(f"malformed response: no choices in {_preview(reply)}")
    choice = choices[0]
    if endpoint == "chat":
        message = getattr(choice, "message", None)
        if message is None:
            raise TransientProviderError("malformed response: choice without a message")
        # None is legitimate (a refusal or a tool call): no text.
        text = getattr(message, "content", None) or ""
    else:
        text = getattr(choice, "text", None)
    if not isinstance(text, str):
        raise TransientProviderError(f"malformed response: no text in {_preview(choice)}")
    usage = getattr(reply, "usage", None)
    finish_reason = getattr(choice, "finish_reason", None)
    return Generation(
        text=text,
        prompt_tokens=_count(getattr(usage, "prompt_tokens", None)),
        completion_tokens=_count(getattr(usage, "completion_tokens", None)),
        finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        top_logprobs=_top_logprobs(choice),
    )


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
    """An attribute of an SDK object, or a key of a dict the SDK left unparsed."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def map_error(exc: Exception, *, secret: str | None = None) -> ProviderError:
    """The harness error for an SDK failure: permanent where retrying cannot help, transient
    (and so retried by the runner) where it may. ``secret`` is scrubbed from the message."""
    status: int | None = getattr(exc, "status_code", None)
    wait: float | None = None
    cls: type[ProviderError]
    if isinstance(exc, openai.APIStatusError):
        message = f"HTTP {status}: {_server_message(exc)}"
        if exc.status_code in (401, 403):
            cls = AuthError
        elif exc.status_code == 429 and exc.code == "insufficient_quota":
            # OpenAI's "out of credit" is a 429 that no amount of waiting fixes.
            cls = PermanentProviderError
        elif exc.status_code == 429:
            cls, wait = RateLimitError, retry_after(exc.response.headers)
        elif exc.status_code >= 500 or exc.status_code in _TRANSIENT_4XX:
            # A 503 may say when to come back, too.
            cls, wait = TransientProviderError, retry_after(exc.response.headers)
        else:
            cls = PermanentProviderError
    elif isinstance(exc, openai.APIResponseValidationError):
        cls, message = TransientProviderError, f"malformed response: {exc.message}"
    elif isinstance(exc, openai.APIConnectionError):
        root = _root_cause(exc)
        # The SDK's aiohttp transport reports refused and dropped connections as timeouts:
        # the root cause tells them apart.
        if isinstance(root, TimeoutError | openai.APITimeoutError):
            message = "request timed out"
        else:
            message = f"connection failed ({type(root).__name__}: {root})"
        cls = TransientProviderError
    elif isinstance(exc, ValueError):
        cls = TransientProviderError
        message = f"malformed response: {type(exc).__name__}: {exc}"
    else:
        cls, message = PermanentProviderError, f"unexpected {type(exc).__name__}: {exc}"
    if secret:
        message = message.replace(secret, "***")
    if issubclass(cls, TransientProviderError):
        return cls(message, status, wait)
    return cls(message, status)


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
        return _preview(body)
    return exc.message


def _count(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _preview(value: object, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
