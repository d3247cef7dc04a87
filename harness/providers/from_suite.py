"""A suite's providers and judges, built as a run builds them: ``.env`` files read, the
secrets they name checked (or left out for planning alone), each model checked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.errors import SuiteError
from harness.providers.base import Provider
from harness.providers.registry import create_providers
from harness.suite.loader import LoadedSuite
from harness.suite.schema import ENV_VAR, EnvRef
from harness.suite.yaml_lines import read_watched


def prepare_models(
    loaded: LoadedSuite, *, require_keys: bool = True
) -> tuple[list[Provider], list[Provider]]:
    """The suite's providers and judges, built and checked (``.env`` files read first); see
    :func:`prepare` for ``require_keys``."""
    load_dotenv_files(loaded.base_dir)
    configs = [*loaded.suite.providers, *loaded.suite.judges]
    if not require_keys:  # no call is made: a provider is planned the same without its key
        configs = [_without_unset_secrets(c) for c in configs]
    built = create_providers(loaded, configs)
    providers, judges = built[: len(loaded.suite.providers)], built[len(loaded.suite.providers) :]
    for provider in [*providers, *judges]:
        provider.check()
    return providers, judges


def load_dotenv_files(suite_dir: Path) -> None:
    """Variables of ``.env`` beside the suite, then in the working directory, that the
    environment does not set already. Only read into this process; never written."""
    import io

    from dotenv import dotenv_values

    for path in dotenv_paths(suite_dir):
        try:  # read as the suite's files are, so a replay knows it is unchanged
            text = read_watched(path).decode("utf-8")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            continue  # as python-dotenv does: no file, no variables
        except (OSError, UnicodeDecodeError) as e:
            raise SuiteError(f"cannot read the .env file: {e}", path) from None
        for name, value in dotenv_values(stream=io.StringIO(text)).items():
            if value is not None:
                os.environ.setdefault(name, value)


def dotenv_paths(suite_dir: Path) -> list[Path]:
    """The ``.env`` files a run reads, there or not: beside the suite, in the working
    directory (by the names given: a folder's symlink pointed elsewhere is another file)."""
    folders = dict.fromkeys([os.path.abspath(suite_dir), os.getcwd()])
    return [Path(folder) / ".env" for folder in folders]


def secret_variables(config: Any) -> list[str]:
    """The environment variables a provider, judge or embedder config reads secrets from:
    an API key (``api_key_env``), or ``{env: NAME}`` / ``${NAME}`` in an ``http`` header."""
    names = [config.api_key_env] if getattr(config, "api_key_env", None) else []
    for value in (getattr(config, "headers", None) or {}).values():
        names += [value.env] if isinstance(value, EnvRef) else ENV_VAR.findall(value)
    return names


def _without_unset_secrets(config: Any) -> Any:
    """``config`` with each unset secret left out (a placeholder), for planning only."""
    unset = {v for v in secret_variables(config) if not os.environ.get(v)}
    if not unset:
        return config
    update: dict[str, Any] = {}
    if getattr(config, "api_key_env", None) in unset:
        update["api_key_env"] = None
    if getattr(config, "headers", None):
        update["headers"] = {
            name: f"<unset {value.env}>" if isinstance(value, EnvRef) and value.env in unset
            else value if isinstance(value, EnvRef)
            else ENV_VAR.sub(lambda m: f"<unset {m[1]}>" if m[1] in unset else m[0], value)
            for name, value in config.headers.items()
        }  # fmt: skip
    return config.model_copy(update=update)


def missing_keys(loaded: LoadedSuite) -> list[tuple[str, str]]:
    """``(variable, what needs it)`` for each unset secret variable the suite names."""
    configs = [
        *(("provider", c) for c in loaded.suite.providers),
        *(("judge", c) for c in loaded.suite.judges),
        *(("embeddings", c) for c in loaded.suite.embeddings),
    ]
    return [
        (name, f"{kind} {c.id!r}")
        for kind, c in configs
        for name in dict.fromkeys(secret_variables(c))
        if not os.environ.get(name)
    ]
