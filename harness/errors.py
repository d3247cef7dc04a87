"""The one exception tree of the harness.

Every error a user can cause derives from :class:`HarnessError`; the CLI prints
those without a traceback and maps them to exit codes::

    HarnessError                 exit 2 (bad input or config) unless stated
    ├── SuiteError               a suite / dataset / template problem, with file:line
    │   └── SuiteKeyError        found while a provider or scorer is built: the loader adds the line
    ├── ProviderError            a model call failed
    │   ├── PermanentProviderError   401/403/400/404: retrying cannot help
    │   │   └── AuthError
    │   └── TransientProviderError   429/5xx/timeouts/dropped connections/bad JSON
    │       ├── RateLimitError       429, may carry Retry-After
    │       └── TransientError       raised by a user's ``python`` provider: retry this call
    ├── ScorerError              a scorer was misconfigured or could not score
    ├── StoreError               the results store or a run id is wrong
    ├── SelectionError           run filters name an unknown prompt/provider/tag or select nothing
    ├── CompareError             a comparison, gate or baseline file is wrong (unknown
    │                            prompt/provider/metric, unreadable baseline, nothing paired)
    └── BenchError               a benchmark run is asked for wrongly (unknown benchmark or
                                 subject, missing data folder, too few dev rows for the shots)
"""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code: int = 2


class SuiteError(HarnessError):
    """A problem in a suite, dataset or template, located at ``path:line``."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path or ""
        if self.path and self.line:
            where = f"{self.path}:{self.line}"
        return f"{where}: {self.message}" if where else self.message


class SuiteKeyError(SuiteError):
    """A SuiteError found before its line is known (while a provider or scorer is built):
    ``key`` is the path of the offending key inside its provider or assertion, so that
    the loader can point at its line."""

    def __init__(self, message: str, *key: str | int) -> None:
        super().__init__(message)
        self.key = key


class ProviderError(HarnessError):
    """A model call failed. ``status`` is the HTTP status where there was one."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


class PermanentProviderError(ProviderError):
    """Retrying cannot help (bad request, unknown model, ...): fail fast."""


class AuthError(PermanentProviderError):
    """The API key is missing, wrong or not allowed to use the model."""


class TransientProviderError(ProviderError):
    """Worth retrying with backoff: 5xx, timeouts, dropped connections, malformed replies."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message, status)


class RateLimitError(TransientProviderError):
    """HTTP 429; ``retry_after`` holds the server's Retry-After in seconds when given."""


class TransientError(TransientProviderError):
    """Raise it from a ``python`` provider function to have the runner retry the call (with
    backoff, up to the provider's ``max_retries``); any other exception fails the case."""


class ScorerError(HarnessError):
    """A scorer is unknown, misconfigured, or could not score this output."""


class StoreError(HarnessError):
    """The results store cannot be read or written, or a run id does not exist."""


class SelectionError(HarnessError):
    """Run filters (``--tag``, ``--prompt``, ``--filter-failing``...) that name what the suite
    does not have, or that select no case."""


class CompareError(HarnessError):
    """A comparison, gate or baseline cannot be made as asked (a failed gate is not an error)."""


class BenchError(HarnessError):
    """``harness bench`` cannot run as asked: unknown benchmark or subject, missing files."""
