"""What ``harness scorers`` and ``harness providers`` list, read from the code itself.

Parameters, types and defaults come from each scorer's ``__init__`` signature (the same
one :func:`~harness.scorers.registry.get_scorer` checks suites against) and from each
provider type's pydantic config model, so the listing cannot drift from what a suite may say.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from rich.table import Table

from harness.errors import ScorerError
from harness.scorers.base import Scorer
from harness.scorers.registry import _describe, available_scorers, plugin_scorers, scorer_class


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str
    #: ``= default`` or "(optional)"; None when the parameter is required.
    default: str | None

    def line(self) -> str:
        return f"{self.name}: {self.kind}" + ("" if self.default is None else f" {self.default}")


@dataclass(frozen=True)
class Entry:
    """One scorer or provider type."""

    name: str
    origin: str
    summary: str
    parameters: list[Parameter] = field(default_factory=list)
    #: Scorers only: the pass threshold used when an assertion gives none.
    threshold: str = ""
    higher_is_better: bool = True
    #: Why a plugin could not be loaded (then nothing else is known about it).
    error: str | None = None


def scorer_entries() -> list[Entry]:
    """Every scorer, built-in and plugin, sorted by name; a broken plugin is listed with its
    error rather than hiding the others."""
    plugins = plugin_scorers()
    entries = []
    for name in available_scorers():
        origin = _origin(plugins[name]) if name in plugins else "built-in"
        try:
            factory = scorer_class(name)
        except (ScorerError, ImportError) as e:  # a plugin, or a built-in's missing extra
            entries.append(Entry(name, origin, "", error=str(e)))
            continue
        entries.append(_scorer_entry(name, origin, factory))
    return entries


def provider_entries() -> list[Entry]:
    """Every provider type of a suite's ``providers:`` (and ``judges:``)."""
    from harness.suite.schema import ProviderConfig

    members = typing.get_args(typing.get_args(ProviderConfig)[0])
    entries = []
    for model in members:
        kind = typing.get_args(model.model_fields["type"].annotation)[0]
        params = [
            Parameter(info.alias or name, _describe(info.annotation), _field_default(info))
            for name, info in model.model_fields.items()
            if name != "type"
        ]
        entries.append(Entry(kind, "built-in", _summary(model), params))
    return sorted(entries, key=lambda e: e.name)


def scorers_table() -> Table:
    table = Table("scorer", "from", "parameters", "default threshold", "better", "what")
    for e in scorer_entries():
        if e.error is not None:
            table.add_row(e.name, e.origin, "-", "-", "-", f"[red]cannot load:[/] {e.error}")
            continue
        params = "\n".join(p.line() for p in e.parameters) or "-"
        better = "higher" if e.higher_is_better else "lower"
        table.add_row(e.name, e.origin, params, e.threshold, better, e.summary)
    return table


def providers_table() -> Table:
    table = Table("type", "parameters", "what")
    for e in provider_entries():
        table.add_row(e.name, "\n".join(p.line() for p in e.parameters), e.summary)
    return table


def _scorer_entry(name: str, origin: str, factory: type[Scorer]) -> Entry:
    signature = inspect.signature(factory)
    hints = typing.get_type_hints(factory.__init__) if signature.parameters else {}
    params = [
        Parameter(
            p.name,
            _describe(hints.get(p.name, Any)),
            _default(p.default),
        )
        for p in signature.parameters.values()
    ]
    # A scorer whose __init__ sets its own default threshold (judge: the rubric's pass grade).
    per_instance = "default_threshold" in getattr(factory.__init__, "__code__", _NO_CODE).co_names
    threshold = "from its parameters" if per_instance else f"{factory.default_threshold:g}"
    return Entry(name, origin, _summary(factory), params, threshold, bool(factory.higher_is_better))


_NO_CODE = (lambda: None).__code__


def _default(value: Any) -> str | None:
    """``= value``; "(optional)" for a sentinel that only marks "not given"; None: required."""
    if value is inspect.Parameter.empty:
        return None
    return "(optional)" if type(value) is object else f"= {value!r}"


def _field_default(info: Any) -> str | None:
    if info.default is not PydanticUndefined:
        return _default(info.default)
    if info.default_factory is not None:
        value = info.default_factory()
        return _default(
            value.model_dump(exclude_none=True) if isinstance(value, BaseModel) else value
        )
    return None


def _origin(entry: Any) -> str:
    dist = entry.dist
    return f"plugin {dist.name} {dist.version}" if dist is not None else "plugin"


def _summary(obj: Any) -> str:
    """The first paragraph of ``obj``'s own docstring (not one inherited from a base)."""
    doc = inspect.cleandoc(obj.__doc__ or "")
    return doc.split("\n\n")[0].replace("\n", " ")
