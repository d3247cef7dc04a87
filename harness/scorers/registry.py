"""Scorer names -> factories, imported on first use, with checked parameters.

The table below is the whole registry: nothing registers itself on import, so a
scorer's optional dependencies (rouge-score, sacrebleu, jsonschema) load only when
a suite uses it, and an unknown name or parameter is always an error that says
what was meant. A factory is a :class:`Scorer` subclass whose ``__init__`` takes
keyword-only parameters; their type hints are what :func:`get_scorer` checks.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import types
import typing
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from harness.errors import ScorerError
from harness.scorers.base import Scorer

_FACTORIES: dict[str, str] = {
    "exact": "harness.scorers.text:ExactScorer",
    "label": "harness.scorers.label:LabelScorer",
    "f1": "harness.scorers.text:F1Scorer",
    "contains": "harness.scorers.text:ContainsScorer",
    "icontains": "harness.scorers.substrings:IContainsScorer",
    "contains_any": "harness.scorers.substrings:ContainsAnyScorer",
    "contains_all": "harness.scorers.substrings:ContainsAllScorer",
    "starts_with": "harness.scorers.substrings:StartsWithScorer",
    "regex": "harness.scorers.text:RegexScorer",
    "not_contains": "harness.scorers.safety:NotContainsScorer",
    "not_regex": "harness.scorers.safety:NotRegexScorer",
    "equals_json": "harness.scorers.structured:EqualsJsonScorer",
    "json_schema": "harness.scorers.structured:JsonSchemaScorer",
    "is_json": "harness.scorers.json_found:IsJsonScorer",
    "contains_json": "harness.scorers.json_found:ContainsJsonScorer",
    "levenshtein": "harness.scorers.edit_distance:LevenshteinScorer",
    "word_count": "harness.scorers.limits:WordCountScorer",
    "length": "harness.scorers.limits:LengthScorer",
    "latency": "harness.scorers.limits:LatencyScorer",
    "cost": "harness.scorers.limits:CostScorer",
    "choice": "harness.scorers.choice:ChoiceScorer",
    "rouge1": "harness.scorers.overlap:Rouge1Scorer",
    "rouge2": "harness.scorers.overlap:Rouge2Scorer",
    "rougeL": "harness.scorers.overlap:RougeLScorer",
    "rougeLsum": "harness.scorers.overlap:RougeLsumScorer",
    "bleu": "harness.scorers.sacre:BleuScorer",
    "chrf": "harness.scorers.sacre:ChrfScorer",
    "judge": "harness.scorers.judge:JudgeScorer",
    "similar": "harness.scorers.similar:SimilarScorer",
    "faithfulness": "harness.scorers.rag:FaithfulnessScorer",
    "answer_relevancy": "harness.scorers.rag:AnswerRelevancyScorer",
    "context_precision": "harness.scorers.rag:ContextPrecisionScorer",
    "context_recall": "harness.scorers.rag:ContextRecallScorer",
    "answer_correctness": "harness.scorers.rag:AnswerCorrectnessScorer",
    "python": "harness.scorers.python_check:PythonScorer",
    "tool_call": "harness.scorers.tool_calls:ToolCallScorer",
    "tool_call_f1": "harness.scorers.tool_calls:ToolCallF1Scorer",
}

#: Installed packages add scorers under this entry point group (``name = "module:Class"``).
PLUGIN_GROUP = "harness.scorers"


def available_scorers() -> list[str]:
    """Every scorer name, built-in and from installed plugins, sorted."""
    return sorted({*_FACTORIES, *plugin_scorers()})


def plugin_scorers() -> dict[str, metadata.EntryPoint]:
    """Scorers installed packages declare in the ``harness.scorers`` entry point group. A
    built-in name wins (a plugin cannot change what ``exact`` means in existing suites)."""
    found = metadata.entry_points(group=PLUGIN_GROUP)
    return {ep.name: ep for ep in found if ep.name not in _FACTORIES}


def scorer_class(type_name: str) -> type[Scorer]:
    """The factory registered as ``type_name`` (imported now), or :class:`ScorerError`."""
    if type_name in _FACTORIES:
        module_name, _, attr = _FACTORIES[type_name].partition(":")
        factory: type[Scorer] = getattr(importlib.import_module(module_name), attr)
        return factory
    plugins = plugin_scorers()
    if type_name not in plugins:
        hint = _did_you_mean(type_name, [*_FACTORIES, *plugins])
        raise ScorerError(
            f"Unknown scorer {type_name!r}.{hint} Available: {', '.join(available_scorers())}"
        )
    return _load_plugin(plugins[type_name])


def get_scorer(type_name: str, params: dict[str, Any], suite_dir: Path | None = None) -> Scorer:
    """Build the scorer ``type_name`` with ``params``, or raise :class:`ScorerError`. Files its
    parameters name are relative to ``suite_dir`` (default: the working directory)."""
    factory = scorer_class(type_name)
    _check_params(type_name, factory, params)
    scorer = factory(**params)
    scorer.load(suite_dir or Path.cwd())
    return scorer


def _load_plugin(entry: metadata.EntryPoint) -> type[Scorer]:
    package = f"{entry.dist.name} {entry.dist.version}" if entry.dist else "an unknown package"
    where = f"scorer {entry.name!r} (entry point {entry.value!r} of {package})"
    try:
        factory = entry.load()
    except Exception as e:  # the plugin's own import failed
        raise ScorerError(f"cannot load {where}: {type(e).__name__}: {e}") from None
    if not (isinstance(factory, type) and issubclass(factory, Scorer)):
        raise ScorerError(f"{where} is {factory!r}, not a subclass of harness.Scorer")
    return factory


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    by_lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(word.lower(), by_lower, n=1)
    return f" Did you mean {by_lower[close[0]]!r}?" if close else ""


def _check_params(name: str, factory: type[Scorer], params: dict[str, Any]) -> None:
    if not isinstance(params, dict):
        raise ScorerError(f"Scorer {name!r}: parameters must be a mapping, got {params!r}")
    signature = inspect.signature(factory)
    hints = typing.get_type_hints(factory.__init__)
    for key, value in params.items():
        if key not in signature.parameters:
            if not signature.parameters:
                raise ScorerError(f"Scorer {name!r} takes no parameters, got {key!r}")
            hint = _did_you_mean(str(key), signature.parameters)
            accepted = ", ".join(signature.parameters)
            raise ScorerError(
                f"Scorer {name!r} has no parameter {key!r}.{hint} Accepted parameters: {accepted}"
            )
        if not _matches(value, hints[key]):
            raise ScorerError(
                f"Scorer {name!r}: parameter {key!r} must be {_describe(hints[key])}, got {value!r}"
            )
    missing = [
        p.name
        for p in signature.parameters.values()
        if p.default is inspect.Parameter.empty and p.name not in params
    ]
    if missing:
        raise ScorerError(f"Scorer {name!r} needs parameter(s): {', '.join(missing)}")


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` (as parsed from YAML) fits the type hint ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return any(type(value) is type(a) and value == a for a in args)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(_matches(k, args[0]) for k in value)
    if hint in (int, float) and isinstance(value, bool):
        return False
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is list:
        item = _describe(args[0]).removeprefix("a ").removeprefix("an ")
        return f"a list of {item}s"
    if origin is dict:
        return "a mapping"
    names = {
        str: "a string",
        bool: "true or false",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }
    return names.get(hint, getattr(hint, "__name__", str(hint)))
