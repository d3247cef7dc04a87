"""JUnit XML for CI systems: one testcase per case and per gate.

Layout (the common Jenkins/GitLab/GitHub-reporter dialect)::

    <testsuites name="harness: SUITE" tests= failures= errors= time=>
      <testsuite name="SUITE / SET / PROMPT / PROVIDER" ...>   one per (case set, prompt, provider)
        <properties> run_id, model, case_set, prompt_id, provider_id </properties>
        <testcase classname="SUITE.SET.PROMPT.PROVIDER" name="ROW_ID" time="LATENCY">
          <failure message="f1 = 0.200 < 0.500" type="score">prompt, output, scores</failure>
          <error message="..." type="case_error">...</error>    (the model call failed)
        </testcase>
      </testsuite>
      <testsuite name="SUITE / gates"> one testcase per gate </testsuite>
    </testsuites>

Model output may hold anything, including characters XML 1.0 cannot carry at all
(NUL, ESC, lone surrogates...): they are written as visible ``\\x1b`` escapes.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from harness.ci._format import failure_details, failure_summary
from harness.results.models import CaseResult, RunRecord

#: Characters XML 1.0 does not allow anywhere, even escaped.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Longest ``message`` attribute; the full text is in the element body.
_MAX_MESSAGE = 500


class GateOutcome(Protocol):
    """What a gate result must offer to become a testcase (``details`` is optional)."""

    @property
    def name(self) -> str: ...

    @property
    def passed(self) -> bool: ...

    @property
    def message(self) -> str: ...


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 forbids replaced by a visible escape."""
    return _INVALID_XML.sub(_escape_char, text)


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def junit_element(
    run: RunRecord, results: Sequence[CaseResult], gates: Sequence[GateOutcome] = ()
) -> ET.Element:
    """The ``<testsuites>`` element of one run (and its gates, when given)."""
    root = _el("testsuites", name=f"harness: {run.suite_name}")
    groups: dict[tuple[str, str, str], list[CaseResult]] = {}
    for r in _ordered(results, run):
        groups.setdefault((r.case_set, r.prompt_id, r.provider_id), []).append(r)
    for (case_set, prompt_id, provider_id), members in groups.items():
        suite = _testsuite(
            root,
            run,
            name=f"{run.suite_name} / {case_set} / {prompt_id} / {provider_id}",
            properties={
                "run_id": run.run_id,
                "suite_path": run.suite_path,
                "case_set": case_set,
                "prompt_id": prompt_id,
                "provider_id": provider_id,
                "model": members[0].model,
            },
        )
        classname = ".".join((run.suite_name, case_set, prompt_id, provider_id))
        for r in members:
            _case(suite, r, classname)
    if gates:
        suite = _testsuite(
            root, run, name=f"{run.suite_name} / gates", properties={"run_id": run.run_id}
        )
        for gate in gates:
            _gate(suite, gate, f"{run.suite_name}.gates")
    _totals(root, root.findall("testsuite"))
    return root


def junit_xml(
    run: RunRecord, results: Sequence[CaseResult], gates: Sequence[GateOutcome] = ()
) -> str:
    """The JUnit XML document as text."""
    root = junit_element(run, results, gates)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(
    run: RunRecord,
    results: Sequence[CaseResult],
    path: str | Path,
    gates: Sequence[GateOutcome] = (),
) -> Path:
    """Write the JUnit XML of one run to ``path`` (folders created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(run, results, gates), encoding="utf-8")
    return path


def _ordered(results: Sequence[CaseResult], run: RunRecord) -> list[CaseResult]:
    """The suite's own cases first, then each bad-case set; prompts and providers in suite
    order; rows by id (a stable order, whatever order the cases finished in)."""
    prompts = {p: i for i, p in enumerate(run.prompts)}
    providers = {p.get("id"): i for i, p in enumerate(run.providers)}
    return sorted(
        results,
        key=lambda r: (
            r.case_set != "main",
            r.case_set,
            prompts.get(r.prompt_id, len(prompts)),
            providers.get(r.provider_id, len(providers)),
            r.row_id,
        ),
    )


def _el(
    tag: str, parent: ET.Element | None = None, text: str | None = None, **attrs: str
) -> ET.Element:
    attrib = {k: xml_safe(v) for k, v in attrs.items()}
    el = ET.Element(tag, attrib) if parent is None else ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = xml_safe(text)
    return el


def _testsuite(
    root: ET.Element, run: RunRecord, name: str, properties: dict[str, str]
) -> ET.Element:
    suite = _el("testsuite", root, name=name, timestamp=run.created_at.isoformat())
    props = _el("properties", suite)
    for key, value in properties.items():
        _el("property", props, name=key, value=value)
    return suite


def _case(suite: ET.Element, r: CaseResult, classname: str) -> None:
    case = _el("testcase", suite, classname=classname, name=r.row_id, time=_secs(r.latency_s))
    if r.passed:
        return
    tag, kind = ("error", "case_error") if r.error is not None else ("failure", "score")
    _el(tag, case, failure_details(r), message=_message(failure_summary(r)), type=kind)


def _gate(suite: ET.Element, gate: GateOutcome, classname: str) -> None:
    case = _el("testcase", suite, classname=classname, name=gate.name, time="0")
    if gate.passed:
        return
    details = getattr(gate, "details", None) or gate.message
    _el("failure", case, details, message=_message(gate.message), type="gate")


def _totals(root: ET.Element, suites: list[ET.Element]) -> None:
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    for suite in suites:
        cases = suite.findall("testcase")
        counts = {
            "tests": len(cases),
            "failures": sum(c.find("failure") is not None for c in cases),
            "errors": sum(c.find("error") is not None for c in cases),
            "skipped": 0,
        }
        seconds = sum(float(c.get("time", "0")) for c in cases)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{seconds:.3f}")
        total_time += seconds
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")


def _message(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _secs(value: float | None) -> str:
    return f"{value or 0.0:.3f}"
