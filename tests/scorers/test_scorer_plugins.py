"""Scorer plugins: a real entry point lookup (importlib.metadata) of a distribution on
sys.path, checked like the built-ins; and ``harness scorers`` / ``harness providers``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.catalog import provider_entries, scorer_entries
from harness.cli import main
from harness.errors import ScorerError
from harness.scorers import available_scorers, get_scorer
from harness.scorers.text import ExactScorer

PLUGIN = '''
from harness.scorers import Scorer, ScoreValue


class ShoutyScorer(Scorer):
    """The share of the output's letters that are capitals."""

    name = "shouty"
    default_threshold = 0.5

    def __init__(self, *, min_letters: int = 1, ignore: list[str] | None = None):
        self.min_letters = min_letters
        self.ignore = ignore or []

    def score(self, output, expected, vars):
        letters = [c for c in output if c.isalpha() and c not in self.ignore]
        if len(letters) < self.min_letters:
            return ScoreValue(value=0.0, explanation="too few letters")
        return ScoreValue(value=sum(c.isupper() for c in letters) / len(letters))


def helper():
    return 1
'''

ENTRY_POINTS = """
[harness.scorers]
shouty = shouty_scorers:ShoutyScorer
broken = shouty_missing_module:Thing
notascorer = shouty_scorers:helper
exact = shouty_scorers:ShoutyScorer
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``shouty-plugin 0.1`` installed the way pip leaves it: a module and a .dist-info
    folder with METADATA and entry_points.txt, on sys.path."""
    site = tmp_path / "site"
    info = site / "shouty_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shouty-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "shouty_scorers.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("shouty_scorers", None)


@pytest.mark.usefixtures("plugin")
def test_a_plugin_scorer_is_found_built_and_checked_like_a_built_in() -> None:
    names = available_scorers()
    assert {"shouty", "broken", "notascorer"} <= set(names) and names.count("exact") == 1
    scorer = get_scorer("shouty", {"min_letters": 2})
    assert scorer.score("ABcd", [], {}).value == 0.5
    assert type(get_scorer("exact", {})) is ExactScorer  # a plugin cannot take a built-in name
    with pytest.raises(ScorerError, match=r"has no parameter 'min_leters'\. Did you mean 'min_"):
        get_scorer("shouty", {"min_leters": 2})
    with pytest.raises(ScorerError, match="parameter 'min_letters' must be an integer"):
        get_scorer("shouty", {"min_letters": "two"})
    with pytest.raises(ScorerError, match=r"Unknown scorer 'shoutey'\. Did you mean 'shouty'\?"):
        get_scorer("shoutey", {})


@pytest.mark.usefixtures("plugin")
def test_a_broken_plugin_is_a_clear_error() -> None:
    with pytest.raises(ScorerError, match=r"cannot load scorer 'broken' .*shouty-plugin 0.1.*"):
        get_scorer("broken", {})
    with pytest.raises(ScorerError, match=r"is <function helper .*not a subclass of harness"):
        get_scorer("notascorer", {})


def _suite(tmp_path: Path, scorer: str) -> Path:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: plugins\n"
        "prompts: [{id: p, template: '{{ q }}'}]\n"
        "providers: [{id: stored, type: outputs, column: out}]\n"
        "cases:\n"
        "  - vars: {q: x, out: HELLO there}\n"
        "defaults:\n"
        "  assert:\n"
        f"    - {{type: {scorer}}}\n"
    )
    return suite


@pytest.mark.usefixtures("plugin")
def test_plugins_in_a_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.api import run_suite

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    outcome = run_suite(_suite(tmp_path, "shouty"))
    (score,) = outcome.results[0].scores
    assert (score.scorer, score.value, score.passed) == ("shouty", 0.5, True)
    assert main(["validate", str(_suite(tmp_path, "broken"))]) == 2
    err = capsys.readouterr().err
    assert "suite.yaml:8:" in err and "cannot load scorer 'broken'" in err
    assert "Traceback" not in err


@pytest.mark.usefixtures("plugin")
def test_harness_scorers_lists_built_ins_and_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    entries = {e.name: e for e in scorer_entries()}
    shouty = entries["shouty"]
    assert shouty.origin == "plugin shouty-plugin 0.1" and shouty.threshold == "0.5"
    assert [p.line() for p in shouty.parameters] == [
        "min_letters: an integer = 1",
        "ignore: a list of strings or null = None",
    ]
    assert shouty.summary == "The share of the output's letters that are capitals."
    assert "cannot load" in (entries["broken"].error or "")
    python = entries["python"]
    assert python.origin == "built-in" and python.threshold == "0.5"
    assert python.parameters[0].line() == "function: a string"
    assert entries["judge"].threshold == "from its parameters"
    assert entries["rougeL"].threshold == "0.5" and entries["exact"].threshold == "1"
    assert main(["scorers"]) == 0
    out = capsys.readouterr().out
    assert "shouty" in out and "plugin shouty-plugin 0.1" in out and "rougeLsum" in out


def test_harness_providers_lists_every_type_from_its_config_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    entries = {e.name: e for e in provider_entries()}
    assert sorted(entries) == ["exec", "hf", "http", "openai", "outputs", "python", "vllm"]
    http = {p.name: p.line() for p in entries["http"].parameters}
    assert http["url"] == "url: a string"
    assert http["method"] == "method: one of 'GET', 'POST', 'PUT', 'PATCH', 'DELETE' = 'POST'"
    assert http["cache"] == "cache: true or false = True"
    assert {p.name for p in entries["exec"].parameters} >= {"command", "stdin", "timeout"}
    assert main(["providers"]) == 0
    assert "transient_errors" in capsys.readouterr().out
