"""Optional dependencies, by the ``pyproject.toml`` extra that installs them.

A command that needs torch or lm-eval checks for them first and, when one is missing,
says which extra to install: one line and exit 2, not a ``ModuleNotFoundError``
traceback. The check looks the modules up without importing them (importing torch takes
seconds).
"""

from __future__ import annotations

import importlib.util

from harness.errors import HarnessError

#: The modules of each extra that harness imports (tests check them against pyproject.toml).
EXTRAS: dict[str, tuple[str, ...]] = {
    "local": ("torch", "transformers"),
    "bench": ("lm_eval", "torch", "transformers"),
    "ray": ("ray",),
    "vllm": ("vllm",),
}


def install_command(extra: str) -> str:
    """The command that installs ``extra`` into a checkout, with the pinned versions; vLLM
    without them, on a CUDA machine (it needs its own CUDA build of torch, not our CPU one)."""
    if extra == "vllm":
        return "pip install -e '.[vllm]' (harness[vllm]) on a machine with a CUDA GPU"
    return f"pip install -c constraints.txt -e '.[{extra}]'"


def require(extra: str, what: str, error: type[HarnessError]) -> None:
    """Raise ``error`` naming the install command when a module of ``extra`` is missing;
    ``what`` is what needs it ("harness bench", "hf provider 'base'")."""
    missing = [name for name in EXTRAS[extra] if not _installed(name)]
    if missing:
        raise error(
            f"{what} needs the '{extra}' extra ({', '.join(missing)} not installed): "
            + install_command(extra)
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent package, or a module without a spec
        return False
