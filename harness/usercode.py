"""A suite's references to its user's own Python code: ``module:function`` or ``file`` + name.

``python`` assertions and ``python`` providers name a function; it is imported and its
signature checked when the suite loads, so a missing file, a misspelt name or a function
that takes the wrong arguments is an error at its line before any call. A module next to
the suite file is loaded from that file under a private name (two suites may each have
their own ``checks.py``); any other name is imported as usual.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import sysconfig
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.errors import SuiteKeyError
from harness.suite.loader import did_you_mean

#: Modules loaded from files, by (path, hash of the bytes): loaded once per process, and
#: again after an edit (a long-lived process such as a pytest session sees the new code).
_FILES: dict[tuple[Path, str], ModuleType] = {}


class UserFunction:
    """A user's function with the number of positional arguments it takes."""

    def __init__(self, fn: Callable[..., Any], label: str, n_args: int, source: Path | None):
        self.fn = fn
        #: ``checks.py:tone`` or ``my_pkg.checks:tone``, for messages.
        self.label = label
        self.n_args = n_args
        #: The file that defines it, when there is one (its bytes are part of a cache key).
        self.source = source
        self.is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - an async __call__ on an instance
        )

    @property
    def module(self) -> ModuleType | None:
        return inspect.getmodule(self.fn)

    def fingerprint(self) -> str:
        """A hash of the defining file's bytes ("" when it has none): edits change it."""
        if self.source is None:
            return ""
        return hashlib.sha256(self.source.read_bytes()).hexdigest()[:16]

    async def __call__(self, *args: Any) -> Any:
        """Call with the first ``n_args`` of ``args``. A sync function runs in a thread of its
        own so that a slow one does not stall the other cases in flight."""
        args = args[: self.n_args]
        if self.is_async:
            result = await self.fn(*args)
        else:
            result = await in_daemon_thread(self.fn, *args)
        if inspect.isawaitable(result):
            result = await result
        return result


async def in_daemon_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a new daemon thread. Unlike ``asyncio.to_thread`` no pool caps how
    many run at once (the runner's concurrency does), and a call that never returns (past
    its timeout) keeps neither the run nor the process from ending."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(error: BaseException | None, result: Any) -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def target() -> None:
        try:
            outcome: tuple[BaseException | None, Any] = (None, fn(*args))
        except BaseException as e:  # handed to the awaiting task, which decides
            outcome = (e, None)
        with contextlib.suppress(RuntimeError):  # the loop closed while fn ran: nobody waits
            loop.call_soon_threadsafe(settle, *outcome)

    name = f"harness-user-{getattr(fn, '__name__', 'call')}"
    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


def load_function(
    function: str,
    file: str | None,
    suite_dir: Path,
    params: Sequence[str],
    optional: int = 0,
) -> UserFunction:
    """The function ``function`` names (``module:name``, or ``name`` in ``file``), checked
    to accept ``params`` positionally (the last ``optional`` of them may be left out)."""
    if file is not None:
        path = (suite_dir / file).resolve()
        # a symlink may point elsewhere later
        RESOLVED[(_FILE + file, os.path.abspath(suite_dir))] = str(path)
        if not path.is_file():
            raise SuiteKeyError(f"file not found: {path}", "file")
        if ":" in function:
            raise SuiteKeyError(
                f"with 'file', 'function' is a name in that file (e.g. 'tone'), got {function!r}",
                "function",
            )
        module, name, label = _load_file(path, "file"), function, f"{path.name}:{function}"
    else:
        module_name, sep, name = function.partition(":")
        if not (sep and module_name and name):
            raise SuiteKeyError(
                f"'function' must be 'module:function' (e.g. my_checks:tone), or a name with "
                f"'file' (file: checks.py, function: tone); got {function!r}",
                "function",
            )
        module, label = import_module(module_name, suite_dir, "function"), function
    fn = _attribute(module, name, label)
    source = getattr(module, "__file__", None)
    n_args = _positional_args(fn, label, params, optional)
    return UserFunction(fn, label, n_args, Path(source) if source else None)


#: ``(module name or "file:" + file, absolute suite folder) -> file`` for each module a
#: suite named and this process imported: what the name meant (:mod:`harness.replay` checks
#: it still means that).
RESOLVED: dict[tuple[str, str], str] = {}
_FILE = "file:"


def import_module(name: str, suite_dir: Path, *key: str | int) -> ModuleType:
    """``name.py`` next to the suite (loaded from that file), else an importable module;
    errors point at the suite key ``key``."""
    beside = suite_dir / f"{name}.py"
    if "." not in name and beside.is_file():
        module = _load_file(beside.resolve(), *key)
    else:
        module = _import(name, suite_dir, *key)
    RESOLVED[(name, os.path.abspath(suite_dir))] = module_file(name, suite_dir)
    return module


def module_file(name: str, suite_dir: Path) -> str:
    """The file :func:`import_module` (or a function's ``file:`` when ``name`` is
    ``"file:" + file``) would take ``name`` from now, without running it (a dotted name's
    packages are imported to find it); ``"None"`` when it finds none."""
    if name.startswith(_FILE):
        path = (suite_dir / name.removeprefix(_FILE)).resolve()
        return str(path) if path.is_file() else "None"
    beside = suite_dir / f"{name}.py"
    if "." not in name and beside.is_file():
        return str(beside.resolve())
    try:
        spec = importlib.util.find_spec(name)
    except Exception:  # a package's own __init__ may raise anything
        return "None"
    return str(spec.origin if spec is not None else None)


def _import(name: str, suite_dir: Path, *key: str | int) -> ModuleType:
    beside = suite_dir / f"{name}.py"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            raise SuiteKeyError(
                f"no module '{name}': not a file next to the suite ({beside}) and not "
                "importable (is its package installed in this environment?)",
                *key,
            ) from None
        raise SuiteKeyError(f"importing '{name}' failed: {describe_error(e)}", *key) from None
    except Exception as e:  # the module's own code raised while importing
        raise SuiteKeyError(f"importing '{name}' failed: {describe_error(e)}", *key) from None


def exception_class(
    name: str, module: ModuleType | None, suite_dir: Path, *key: str | int
) -> type[BaseException]:
    """The exception class ``name`` names: a built-in (``TimeoutError``), one defined in
    ``module`` (the function's own module), or ``package.module.Class``."""
    if "." in name:
        module_name, _, attr = name.rpartition(".")
        found = getattr(import_module(module_name, suite_dir, *key), attr, None)
    else:
        found = getattr(builtins, name, None) or getattr(module, name, None)
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise SuiteKeyError(
            f"'{name}' is not an exception class (a built-in such as TimeoutError, a class in "
            "the function's module, or package.module.Class)",
            *key,
        )
    return found


def describe_error(exc: BaseException) -> str:
    """``Type: message (file.py:12 in fn)``: where in the user's code it was raised."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{text} ({Path(exc.filename).name}:{exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if not is_library(f.filename)]
    if not own:
        return text
    frame = own[-1]
    return f"{text} ({Path(frame.filename).name}:{frame.lineno} in {frame.name})"


#: Code that is not the user's: the harness, the standard library, installed packages.
_LIBRARY_DIRS = tuple(
    Path(p).resolve()
    for p in {
        Path(__file__).parent,
        *(sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")),
    }
    if Path(p).is_dir()
)


@functools.cache
def is_library(filename: str) -> bool:
    """Whether ``filename`` is not the user's code (the harness, the standard library, an
    installed package); a file symlinked into site-packages is the user's. Cached: a
    module's file does not move while the process runs."""
    path = Path(filename).resolve()
    return path.name.startswith("<") or any(path.is_relative_to(d) for d in _LIBRARY_DIRS)


def _load_file(path: Path, *key: str | int) -> ModuleType:
    version = (path, hashlib.sha256(path.read_bytes()).hexdigest())
    if version in _FILES:
        return _FILES[version]
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    name = f"_harness_user_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SuiteKeyError(f"cannot load {path} as a Python module", *key)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up by name
    sys.path.insert(0, str(path.parent))  # so that it can import the files beside it
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise SuiteKeyError(f"loading {path.name} failed: {describe_error(e)}", *key) from None
    finally:
        sys.path.remove(str(path.parent))
    _FILES[version] = module
    return module


def _attribute(module: ModuleType, name: str, label: str) -> Callable[..., Any]:
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n))]
            where = getattr(module, "__file__", None) or module.__name__
            raise SuiteKeyError(
                f"no function '{name}' in {where}.{did_you_mean(part, names)}"
                f" Functions there: {', '.join(sorted(names)) or 'none'}",
                "function",
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise SuiteKeyError(f"'{label}' is a {type(obj).__name__}, not a function", "function")
    return obj


def _positional_args(
    fn: Callable[..., Any], label: str, params: Sequence[str], optional: int
) -> int:
    """How many of ``params`` to pass: all of them if ``fn`` takes them, else fewer."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return len(params)  # a builtin without a signature: call it with everything
    for n in range(len(params), len(params) - optional - 1, -1):
        try:
            signature.bind(*params[:n])
        except TypeError:
            continue
        return n
    forms = " or ".join(
        f"({', '.join(params[:n])})" for n in range(len(params), len(params) - optional - 1, -1)
    )
    raise SuiteKeyError(
        f"function '{label}' takes {signature}, but it is called with {forms}", "function"
    )
