"""Provider types by name, imported lazily (torch is only loaded when an ``hf`` provider runs)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from harness.errors import SuiteError
from harness.providers.base import Provider

_TYPES = {
    "openai": "harness.providers.openai_compat:OpenAIProvider",
    "hf": "harness.providers.hf_local:HFProvider",
    "outputs": "harness.providers.outputs:OutputsProvider",
}


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
    return cls(config)


def _resolve_paths(config: Any, base_dir: Path) -> Any:
    """Suite paths are relative to the suite file, wherever harness is run from."""
    if config.type == "outputs" and config.file:
        return config.model_copy(update={"file": str(base_dir / config.file)})
    if config.type == "hf":
        update = {
            key: str((base_dir / value).resolve())
            for key, value in (("model", config.model), ("adapter", config.adapter))
            if value is not None and (base_dir / value).exists()
        }
        return config.model_copy(update=update)
    return config
