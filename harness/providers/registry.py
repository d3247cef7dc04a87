"""Provider types by name, imported lazily (torch is only loaded when an ``hf`` provider runs)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import PermanentProviderError, SuiteError, SuiteKeyError
from harness.providers.base import Provider
from harness.suite.loader import LoadedSuite

_TYPES = {
    "openai": "harness.providers.openai_compat:OpenAIProvider",
    "hf": "harness.providers.hf_local:HFProvider",
    "vllm": "harness.providers.vllm_local:VLLMProvider",
    "outputs": "harness.providers.outputs:OutputsProvider",
    "python": "harness.providers.python_app:PythonProvider",
    "http": "harness.providers.http_app:HttpProvider",
    "exec": "harness.providers.exec_app:ExecProvider",
}

T = TypeVar("T")


def provider_types() -> list[str]:
    return sorted(_TYPES)


def create_provider(config: Any, base_dir: Path) -> Provider:
    """Build the provider that ``config.type`` names; relative paths are from ``base_dir``."""
    config = _resolve_paths(config, base_dir)
    target = _TYPES.get(config.type)
    if target is None:
        raise SuiteError(
            f"unknown provider type '{config.type}'; expected one of: {', '.join(provider_types())}"
        )
    module_name, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    if config.type == "python":  # its module may sit next to the suite
        return cls(config, base_dir)
    return cls(config)


def create_providers(loaded: LoadedSuite, configs: Sequence[Any]) -> list[Provider]:
    """``configs``, the suite's providers then its judges (as given, or adjusted), built; one
    that cannot be built (a missing function, an unset secret) is an error at the line of
    the key at fault."""
    n_providers = len(loaded.suite.providers)
    built = []
    for i, config in enumerate(configs):
        try:
            built.append(create_provider(config, loaded.base_dir))
        except SuiteKeyError as e:
            section, index = ("providers", i) if i < n_providers else ("judges", i - n_providers)
            where = f"{section}[{index}] ({config.id})"
            raise loaded.error(f"{where}: {e.message}", section, index, *e.key) from None
    return built


def _resolve_paths(config: Any, base_dir: Path) -> Any:
    """Suite paths are relative to the suite file, wherever harness is run from."""
    if config.type == "outputs" and config.file:
        return config.model_copy(update={"file": str(base_dir / config.file)})
    if config.type == "exec":
        return config.model_copy(update={"cwd": str((base_dir / (config.cwd or ".")).resolve())})
    if config.type == "hf":
        return _hf_paths(config, base_dir)
    if config.type == "vllm":  # a folder from base_dir, or a hub id as it is
        from harness.providers.vllm_local import resolve_model

        model = _at_key("model", lambda: resolve_model(config.model, base_dir))
        return config.model_copy(update={"model": model})
    return config


def _hf_paths(config: Any, base_dir: Path) -> Any:
    """An ``hf`` model and adapter resolved from ``base_dir``, so their paths are absolute
    from here on. One that is not on disk fails now, naming its path under ``base_dir``
    (never a folder of the same name under the working directory); an alias stays a name."""
    from harness.providers.hf_models import resolve, resolve_adapter

    model = _at_key("model", lambda: resolve(config.model, config.gguf_file, None, base_dir).name)
    adapter = None
    if config.adapter is not None:
        adapter = str(_at_key("adapter", lambda: resolve_adapter(config.adapter, base_dir)))
    return config.model_copy(update={"model": model, "adapter": adapter})


def _at_key(key: str, find: Callable[[], T]) -> T:
    """``find()``, its error a SuiteKeyError at ``key`` (create_providers adds the line)."""
    try:
        return find()
    except PermanentProviderError as e:
        raise SuiteKeyError(str(e), key) from None
