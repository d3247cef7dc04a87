"""pytest plugin: suite files become tests, one per case (registered as a ``pytest11`` entry point).

What is collected: a YAML file that is a suite (its top level has ``prompts`` and
``providers``, or its name ends in ``.suite.yaml``) and that is either named on the
command line or lies under a directory named ``evals`` (ini option ``harness_eval_dirs``).
So ``pytest evals/`` or ``pytest suites/demo.yaml`` run suites, while a project's own
``tests/`` (with its data files) collects nothing new. Bad-case files and datasets have no
``prompts``/``providers`` and are never collected on their own.

Each case is one item, ``SUITE.yaml::PROMPT::PROVIDER::ROW_ID`` (bad cases:
``...::PROVIDER::SET/ROW_ID``), so ``-k``, ``-x``, ``--lf``, node ids and pytest's own
``--junitxml`` work as usual; a case's tags and its bad-case set are ``-k`` keywords too.
Each gate of the suite is one more item, ``SUITE.yaml::gates::gate-0-pass-min-0.9``, and
each run-level analysis too, ``SUITE.yaml::analyses::fairness``.
The suite runs once per file per session (through :func:`harness.api.run_suite`, with the
usual store, cache and resume), when its first selected item is set up; each item then
reports its case: prompt, output, expected answers and every score against its threshold.
Only the cases whose items are left after ``-k``, ``--lf`` or node ids are run: a run of
that selection (:class:`harness.selection.Selection`), never the whole suite.
A suite that fails while running (an API key the server rejects...) makes its own items
errors, not the session; one that cannot even load (bad YAML, a missing key variable) is a
collection error, like a test module that does not import.

The ``harness`` fixture runs suites from Python tests (sharing the same per-session runs)::

    def test_no_regression(harness):
        outcome = harness.run("evals/smoke.yaml")
        harness.assert_passed(outcome, min_pass_rate=0.9)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.ci._format import failure_details, failure_summary

if TYPE_CHECKING:
    from harness.api import Prepared, RunOutcome
    from harness.cases import Case
    from harness.compare import GateResult
    from harness.results.models import CaseResult

_SUITE_SUFFIXES = (".suite.yaml", ".suite.yml")
_MAIN = "main"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "LLM evaluation suites (harness)")
    group.addoption(
        "--harness-no-cache",
        action="store_true",
        default=False,
        help="harness: do not read the response cache when running suites",
    )
    group.addoption(
        "--harness-bad-cases",
        choices=["fail", "xfail"],
        default=None,
        help="harness: a failing bad case fails (default) or is reported as xfail",
    )
    parser.addini(
        "harness_eval_dirs",
        type="linelist",
        default=["evals"],
        help="harness: suite files under a directory with one of these names are collected",
    )
    parser.addini(
        "harness_bad_cases",
        default="fail",
        help="harness: 'fail' (default) or 'xfail' for failing bad cases",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RUNS] = _Runs(config)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> SuiteFile | None:
    if file_path.suffix.lower() not in (".yaml", ".yml"):
        return None
    config = parent.config
    if not (parent.session.isinitpath(file_path) or _in_eval_dir(file_path, config)):
        return None
    if not is_suite_file(file_path):
        return None
    return SuiteFile.from_parent(parent, path=file_path)


def is_suite_file(path: Path) -> bool:
    """Named ``*.suite.yaml``, or a YAML mapping with ``prompts`` and ``providers`` (a file
    that does not parse but mentions both is collected, so its error is shown)."""
    if path.name.lower().endswith(_SUITE_SUFFIXES):
        return True
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if "prompts" not in text or "providers" not in text:
        return False
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return True
    return isinstance(data, dict) and "prompts" in data and "providers" in data


def _in_eval_dir(path: Path, config: pytest.Config) -> bool:
    names = set(config.getini("harness_eval_dirs"))
    try:
        parts = path.relative_to(config.rootpath).parts
    except ValueError:
        parts = path.parts
    return any(part in names for part in parts[:-1])


class _Runs:
    """One run per suite file per session, shared by the items and the fixture."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        #: Per (suite file, the case ids run, or None for all of them).
        self.outcomes: dict[_RunKey, RunOutcome] = {}
        self._errors: dict[_RunKey, BaseException] = {}

    def get(self, suite: str | Path, case_ids: frozenset[str] | None = None) -> RunOutcome:
        """The run of ``suite``, or of only the cases ``case_ids`` of it."""
        key = (Path(suite).resolve(), case_ids)
        if key in self._errors:
            raise self._errors[key]
        if key not in self.outcomes:
            from harness.api import run_suite
            from harness.selection import Selection

            try:
                self.outcomes[key] = run_suite(
                    key[0],
                    use_cache=not self.config.getoption("harness_no_cache"),
                    select=None if case_ids is None else Selection(case_ids=case_ids),
                )
            except Exception as e:
                self._errors[key] = e
                raise
        return self.outcomes[key]


_RunKey = tuple[Path, "frozenset[str] | None"]


_RUNS = pytest.StashKey[_Runs]()


class SuiteFile(pytest.File):
    """A suite file: a collector per prompt version, then per provider, then one item per case."""

    #: The case ids left after deselection when not all of them (see pytest_collection_finish).
    selected: frozenset[str] | None = None

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        from harness.api import prepare
        from harness.errors import HarnessError

        try:
            prepared = prepare(self.path)
        except HarnessError as e:
            raise self.CollectError(f"harness: {e}") from None
        self.loaded = prepared.loaded
        self.n_cases = len(prepared.plan.cases)
        by_prompt: dict[str, list[Case]] = {}
        for case in prepared.plan.cases:
            by_prompt.setdefault(case.prompt_id, []).append(case)
        for prompt_id, cases in by_prompt.items():
            yield _CaseGroup.from_parent(self, name=prompt_id, cases=cases, level="prompt")
        if self.loaded.suite.gates:
            yield _Gates.from_parent(self, name="gates")
        if prepared.analyses:
            yield _Analyses.from_parent(
                self, name="analyses", ids=[a.id for a in prepared.analyses]
            )

    def setup(self) -> None:
        """Run the suite once, before its first selected case; when it cannot run, every
        case of the file is an error saying why."""
        from harness.errors import HarnessError

        error = None
        try:
            self.outcome = self.config.stash[_RUNS].get(self.path, self.selected)
        except HarnessError as e:
            error = e
        if error is not None:  # outside the except: no "during handling..." chain shown
            pytest.fail(f"harness could not run {self.path.name}: {error}", pytrace=False)
        self.results = {r.case_id: r for r in self.outcome.results}
        self._gate_results: list[GateResult] | None = None

    def gate_results(self) -> list[GateResult]:
        """The verdicts of the suite's gates on this run (evaluated once)."""
        if self._gate_results is None:
            from harness.compare import evaluate_gates, from_results
            from harness.locations import default_store

            run = self.outcome.run
            records = from_results(self.outcome.results, run.run_id, run)
            self._gate_results = evaluate_gates(self.loaded, records, store=default_store())
        return self._gate_results


class _CaseGroup(pytest.Collector):
    """The cases of one prompt version (``level="prompt"``) or one provider under it."""

    def __init__(self, *, cases: list[Case], level: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cases = cases
        self.level = level

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        if self.level == "prompt":
            by_provider: dict[str, list[Case]] = {}
            for case in self.cases:
                by_provider.setdefault(case.provider.id, []).append(case)
            for provider_id, cases in by_provider.items():
                yield _CaseGroup.from_parent(self, name=provider_id, cases=cases, level="provider")
            return
        repeated = any(case.repeat for case in self.cases)
        for case in self.cases:
            row_id = case.row.row_id.replace("::", "__")
            name = row_id if case.row.case_set == _MAIN else f"{case.row.case_set}/{row_id}"
            if repeated:  # one item per sample: ROW_ID[0], ROW_ID[1]...
                name += f"[{case.repeat}]"
            yield CaseItem.from_parent(self, name=name, case=case)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Give each suite file the cases whose items survived ``-k`` / ``--lf`` / node ids
    (called after deselection), so that only those are run."""
    chosen: dict[SuiteFile, set[str]] = {}
    for item in session.items:
        if isinstance(item, CaseItem):
            chosen.setdefault(item.suite_file, set()).add(item.case_id)
    for suite_file, ids in chosen.items():
        if len(ids) < suite_file.n_cases:
            suite_file.selected = frozenset(ids)


class _Gates(pytest.Collector):
    """One item per gate of the suite (each checks every prompt x provider it covers)."""

    def collect(self) -> Iterator[pytest.Item]:
        suite_file = self.getparent(SuiteFile)
        assert suite_file is not None
        for i, gate in enumerate(suite_file.loaded.suite.gates):
            check = f"min-{gate.min_pass_rate:g}" if gate.baseline is None else "vs-baseline"
            name = f"gate-{i}-{gate.metric or 'pass'}-{check}"
            if gate.case_set != _MAIN:
                name += f"-{gate.case_set}"
            yield GateItem.from_parent(self, name=name, index=i)


class GateItem(pytest.Item):
    """One gate of a suite: passes when its verdict on every prompt x provider passed."""

    def __init__(self, *, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.extra_keyword_matches.add("gates")

    def runtest(self) -> None:
        from harness.errors import HarnessError

        suite = self.getparent(SuiteFile)
        assert suite is not None
        error = None
        try:
            verdicts = [g for g in suite.gate_results() if g.index == self.index]
        except HarnessError as e:
            error = e
        if error is not None:
            pytest.fail(f"the gate could not be checked: {error}", pytrace=False)
        for g in verdicts:
            self.user_properties.append((g.name, g.message))
        if any(not g.passed for g in verdicts):
            raise GateFailed(verdicts)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, GateFailed):
            failed = [g for g in excinfo.value.verdicts if not g.passed]
            lines = []
            for g in excinfo.value.verdicts:
                lines.append(f"{'pass' if g.passed else 'FAIL'}  {g.name}: {g.message}")
                if g.details and not g.passed:
                    lines.extend(f"      {line}" for line in g.details.splitlines())
            message = "; ".join(g.message for g in failed)
            return _CaseRepr("\n".join(lines), message, self.path, None)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name}: {self.name}"


class _Analyses(pytest.Collector):
    """One item per run-level analysis of the suite."""

    def __init__(self, *, ids: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ids = ids

    def collect(self) -> Iterator[pytest.Item]:
        for analysis_id in self.ids:
            yield AnalysisItem.from_parent(self, name=analysis_id)


class AnalysisItem(pytest.Item):
    """A run-level analysis: fails when it was declared ``fail_on_flag`` and flagged (or could
    not run); its summary and flags are the item's properties either way."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.extra_keyword_matches.add("analyses")

    def runtest(self) -> None:
        suite = self.getparent(SuiteFile)
        assert suite is not None
        found = next((a for a in suite.outcome.analyses if a.id == self.name), None)
        if found is None:
            pytest.fail(f"the run stored no analysis '{self.name}'", pytrace=False)
        self.user_properties.append((found.name, found.message))
        if found.fails_run:
            pytest.fail(found.message, pytrace=False)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name}: analysis {self.name}"


class GateFailed(Exception):
    """A gate failed on at least one prompt x provider."""

    def __init__(self, verdicts: list[GateResult]) -> None:
        super().__init__("; ".join(g.message for g in verdicts if not g.passed))
        self.verdicts = verdicts


class CaseFailed(Exception):
    """A case did not pass; carries its result for the report."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(failure_summary(result))
        self.result = result


class CaseItem(pytest.Item):
    """One case of a suite: passes when every assertion of the case passed."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case_id = case.case_id
        self.case_set = case.row.case_set
        self.where = case.row.where
        self.extra_keyword_matches.update(case.row.tags)
        self.extra_keyword_matches.add(case.row.case_set)

    @property
    def suite_file(self) -> SuiteFile:
        suite = self.getparent(SuiteFile)
        assert suite is not None  # items are only created under a SuiteFile
        return suite

    def runtest(self) -> None:
        suite = self.suite_file
        result = suite.results.get(self.case_id)
        if result is None:
            pytest.fail(
                f"run {suite.outcome.run.run_id} has no result for this case: the suite "
                "changed while it ran, or the run stopped early",
                pytrace=False,
            )
        self.user_properties.append(("harness_run_id", result.run_id))
        self.user_properties.append(("model", result.model))
        for score in result.scores:
            self.user_properties.append((score.name, score.value))
        if result.passed:
            return
        if self.case_set != _MAIN and _bad_case_mode(self.config) == "xfail":
            pytest.xfail(f"bad case still fails: {failure_summary(result)}")
        raise CaseFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseFailed):
            result = excinfo.value.result
            path, line = self._where()
            path = _relative(path, self.config)
            where = f"{path}:{line}" if line else str(path)
            return _CaseRepr(failure_details(result, where), failure_summary(result), path, line)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        path, line = self._where()
        in_suite = path == self.suite_file.path
        # The failure headline; not a suffix of the node id, or pytest would show its dots
        # as "::" in verbose output.
        label = " / ".join(self.nodeid.split("::")[1:])
        return (
            self.suite_file.path,
            (line - 1 if in_suite and line else None),
            f"{self.suite_file.path.name}: {label}",
        )

    def _where(self) -> tuple[Path, int | None]:
        path, _, line = self.where.rpartition(":")
        if path and line.isdigit():
            return Path(path), int(line)
        return Path(self.where), None


def _relative(path: Path, config: pytest.Config) -> Path:
    """``path`` relative to the rootdir when it is inside it."""
    try:
        return path.relative_to(config.rootpath)
    except ValueError:
        return path


def _bad_case_mode(config: pytest.Config) -> str:
    mode = config.getoption("harness_bad_cases") or config.getini("harness_bad_cases")
    if mode not in ("fail", "xfail"):
        raise pytest.UsageError(f"harness_bad_cases must be 'fail' or 'xfail', not {mode!r}")
    return mode


class _Crash:
    """What pytest shows on the short summary line (``FAILED id - message``)."""

    def __init__(self, message: str, path: Path, line: int | None) -> None:
        self.message = message
        self.path = str(path)
        self.lineno = line or 0

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno}: {self.message}"


class _CaseRepr:
    """A readable failure: the case's details, with a one-line crash message."""

    def __init__(self, text: str, message: str, path: Path, line: int | None) -> None:
        self.text = text
        self.reprcrash = _Crash(message, path, line)

    def toterminal(self, tw: Any) -> None:
        for line in self.text.split("\n"):
            tw.line(line)

    def __str__(self) -> str:
        return self.text


class HarnessFixture:
    """What the ``harness`` fixture gives a test: run suites and check their results."""

    def __init__(self, runs: _Runs) -> None:
        self._runs = runs

    def run(self, suite: str | Path) -> RunOutcome:
        """Run ``suite`` (once per session; a suite collected as a file shares that run)."""
        return self._runs.get(suite)

    def prepare(self, suite: str | Path) -> Prepared:
        """Load and expand ``suite`` without calling any model."""
        from harness.api import prepare

        return prepare(suite)

    @staticmethod
    def failures(outcome: RunOutcome, case_set: str | None = None) -> list[CaseResult]:
        """The failed cases (of one case set when given)."""
        return [
            r
            for r in outcome.results
            if not r.passed and (case_set is None or r.case_set == case_set)
        ]

    @staticmethod
    def pass_rate(outcome: RunOutcome, case_set: str | None = _MAIN) -> float:
        """Passed / all cases of ``case_set`` ("main": the suite's own; None: all)."""
        cases = [r for r in outcome.results if case_set is None or r.case_set == case_set]
        return sum(r.passed for r in cases) / len(cases) if cases else 1.0

    def assert_passed(
        self, outcome: RunOutcome, *, min_pass_rate: float = 1.0, case_set: str | None = _MAIN
    ) -> None:
        """Fail the test, showing the failed cases, when the pass rate is below the minimum."""
        rate = self.pass_rate(outcome, case_set)
        if rate >= min_pass_rate:
            return
        failed = self.failures(outcome, case_set)
        shown = "\n\n".join(failure_details(r, max_text=1000) for r in failed[:5])
        more = f"\n\n…and {len(failed) - 5} more failed cases" if len(failed) > 5 else ""
        raise AssertionError(
            f"suite '{outcome.run.suite_name}' (run {outcome.run.run_id}): pass rate "
            f"{rate:.1%} < {min_pass_rate:.1%}; {len(failed)} failed:\n\n{shown}{more}"
        )


@pytest.fixture(scope="session")
def harness(pytestconfig: pytest.Config) -> HarnessFixture:
    """Run harness suites from a test: ``harness.run(path)`` returns the RunOutcome."""
    return HarnessFixture(pytestconfig.stash[_RUNS])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    from harness.analysis.errors import error_groups

    runs = config.stash.get(_RUNS, None)
    if runs is None or not runs.outcomes:
        return
    terminalreporter.section("harness runs")
    for (path, _), outcome in runs.outcomes.items():
        shown = _relative(path, config)
        line = f"{shown}: run {outcome.run.run_id}"
        if outcome.run.selection is not None:
            line += f" (partial: {outcome.run.selection})"
        for case_set in sorted({r.case_set for r in outcome.results}, key=lambda s: s != _MAIN):
            cases = [r for r in outcome.results if r.case_set == case_set]
            label = "cases" if case_set == _MAIN else f"bad cases '{case_set}'"
            line += f", {label} {sum(r.passed for r in cases)}/{len(cases)} passed"
        terminalreporter.write_line(line)
        for group in error_groups(outcome.results):
            terminalreporter.write_line(f"  {group.line()}", red=True)
        if any(not r.passed and r.error is None for r in outcome.results if r.case_set == _MAIN):
            terminalreporter.write_line(
                f"  keep the failures: harness badcases harvest {outcome.run.run_id} "
                f"--suite {shown}"
            )
