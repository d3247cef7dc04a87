"""``type: http``: the user's application behind any JSON endpoint.

The URL and body are sandboxed Jinja templates (``prompt``, ``messages``, ``vars``); header
values may name environment variables (``{env: NAME}`` or ``${NAME}`` inside the text),
read once when the suite loads and never part of the cache key, a stored result or a
message: every reply and error is scrubbed of them before anything else sees it. Status
codes follow the ``openai`` provider's policy (:func:`status_error`).
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

import httpx

from harness.errors import AuthError, PermanentProviderError, SuiteKeyError, TransientProviderError
from harness.providers.app_io import (
    ReplyPicker,
    app_inputs,
    compile_app_template,
    preview,
    render_app,
)
from harness.providers.base import Generation, ModelRequest, Provider
from harness.providers.openai_compat import KeyScrubber, status_error
from harness.suite.schema import ENV_VAR, EnvRef, HttpProviderConfig


class HttpProvider(Provider):
    """One request per case through an ``httpx.AsyncClient`` (opened on the first call)."""

    type_name: ClassVar[str] = "http"
    config: HttpProviderConfig

    def __init__(self, config: HttpProviderConfig) -> None:
        super().__init__(config)
        self._url = compile_app_template(config.url, "url")
        if "{" not in config.url and not config.url.startswith(("http://", "https://")):
            raise SuiteKeyError(
                f"url {config.url!r} is not an http(s) URL: write it like "
                "http://localhost:8080/ask",
                "url",
            )
        self._body = None if config.body is None else compile_app_template(config.body, "body")
        self._headers, secrets = _headers(config)
        self._scrubbers = [KeyScrubber(s) for s in secrets]
        self._reply = ReplyPicker(config.response)
        self._client: httpx.AsyncClient | None = None

    @property
    def model(self) -> str:
        return self.config.model or self.config.url

    @property
    def returns_contexts(self) -> bool:
        return self._reply.picks_contexts

    def identity(self) -> dict[str, str]:
        """The request's templates and the reply's paths; a secret header only by its
        variable's name (rotating a token keeps the cache)."""
        headers = {
            name: f"{{env: {v.env}}}" if isinstance(v, EnvRef) else v
            for name, v in self.config.headers.items()
        }
        return {
            "type": self.type_name,
            "method": self.config.method,
            "url": self.config.url,
            "body": self.config.body or "",
            "headers": json.dumps(headers, sort_keys=True),
            "response": self._reply.identity(),
        }

    async def generate(self, request: ModelRequest) -> Generation:
        inputs = app_inputs(request)
        url = render_app(self._url, inputs, "url")
        content = self._content(inputs)
        try:
            response = await self._http().request(
                self.config.method, url, content=content, headers=self._headers
            )
        except httpx.TimeoutException:
            raise TransientProviderError(
                f"request timed out after {self.config.timeout}s"
            ) from None
        except httpx.UnsupportedProtocol as e:
            raise PermanentProviderError(self._scrub(f"bad URL {url!r}: {e}")) from None
        except httpx.TransportError as e:  # refused, reset, dropped: worth retrying
            message = self._scrub(f"connection failed ({type(e).__name__}: {e})")
            raise TransientProviderError(message) from None
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            raise PermanentProviderError(self._scrub(f"{type(e).__name__}: {e}")) from None
        body = self._scrub(response.text)
        if response.status_code >= 300:
            error = status_error(response.status_code, preview(body), response.headers)
            if isinstance(error, AuthError):
                error.args = (f"{error} (provider {self.id!r}: check its headers' secrets)",)
            raise error
        return self._reply.generation(body)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.config.timeout)
        return self._client

    def _content(self, inputs: dict[str, Any]) -> str | None:
        """The request body: the template rendered (and checked to be JSON when it is sent
        as JSON), or a JSON object of prompt / messages / vars; none for a bare GET."""
        if self._body is None:
            if self.config.method == "GET":
                return None
            return json.dumps(inputs, ensure_ascii=False, default=str)
        content = render_app(self._body, inputs, "body")
        if "json" in self._headers.get("content-type", ""):
            try:
                json.loads(content)
            except json.JSONDecodeError as e:
                raise PermanentProviderError(
                    f"the rendered body is not JSON ({e.msg}): {preview(self._scrub(content))}; "
                    "quote values in the template with `| tojson`"
                ) from None
        return content

    def _scrub(self, text: str) -> str:
        for scrub in self._scrubbers:
            text = scrub(text)
        return text


def _headers(config: HttpProviderConfig) -> tuple[dict[str, str], list[str]]:
    """The headers to send (names lower-cased, a JSON content type unless one is given)
    and the secret values in them, read from the environment now."""
    headers = {"content-type": "application/json"}
    secrets: list[str] = []
    for name, value in config.headers.items():
        text, found = _header_value(value, config.id, name)
        headers[name.lower()] = text
        secrets += found
    return headers, secrets


def _header_value(value: str | EnvRef, provider: str, header: str) -> tuple[str, list[str]]:
    """A header's text with its environment variables filled in, and their values."""
    if isinstance(value, EnvRef):
        secret = _env(value.env, provider, header)
        return secret, [secret]
    found = {n: _env(n, provider, header) for n in ENV_VAR.findall(value)}
    return ENV_VAR.sub(lambda m: found[m.group(1)], value), list(found.values())


def _env(variable: str, provider: str, header: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise SuiteKeyError(
            f"No {variable} in the environment (provider {provider!r}, header {header!r}): "
            f"set it with `export {variable}=...`",
            "headers",
            header,
        )
    return value
