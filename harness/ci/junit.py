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

The document is written a testcase at a time, as ElementTree would indent it whole: the
results are read once for the order and the counts each ``<testsuite>`` opens with, then
the cases that did not pass are read again, in order, for their failure texts; a stored
100k-case run is never held in memory, nor is its tree.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO
from xml.sax.saxutils import escape

from harness.ci._format import failure_details, failure_summary
from harness.jsontext import model_of
from harness.results.models import CaseResult, RunRecord
from harness.results.store import StoredResults, read_as, reiterable

#: Characters XML 1.0 does not allow anywhere, even escaped.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Longest ``message`` attribute; the full text is in the element body.
_MAX_MESSAGE = 500
_DECLARATION = "<?xml version='1.0' encoding='utf-8'?>\n"
#: What ElementTree escapes in an attribute value besides ``&``, ``<`` and ``>``.
_ATTRIBUTE = {'"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#09;"}
#: What the first pass reads of a case: where it sorts and its verdict, never its texts.
_ENTRY = model_of(
    CaseResult, "case_id", "case_set", "prompt_id", "provider_id", "row_id", "model",
    "passed", "error", "latency_s",
)  # fmt: skip
#: What a failure's text reads of a case that did not pass.
_FAILED = model_of(
    CaseResult, "case_set", "prompt_id", "provider_id", "row_id", "description", "model",
    "messages", "error", "output", "expected", "score", "threshold", "scores", "passed",
)  # fmt: skip


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


def junit_xml(
    run: RunRecord, results: Iterable[CaseResult], gates: Sequence[GateOutcome] = ()
) -> str:
    """The JUnit XML document as text."""
    out = io.StringIO()
    _write(out, run, results, gates)
    return out.getvalue()


def write_junit(
    run: RunRecord,
    results: Iterable[CaseResult],
    path: str | Path,
    gates: Sequence[GateOutcome] = (),
) -> Path:
    """Write the JUnit XML of one run to ``path`` (folders created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        _write(f, run, results, gates)
    return path


@dataclass(slots=True)
class _Entry:
    """What the first pass keeps of a case: where it sorts, where to find it, its verdict."""

    key: tuple[bool, str, int, int, str]
    position: int
    case_id: str
    #: "pass", "failure" or "error": the child element the testcase gets, if any.
    status: str
    time: str
    model: str


@dataclass
class _Suite:
    """One ``<testsuite>``: its cases in order (or the gates), with their counts."""

    name: str
    classname: str
    properties: dict[str, str]
    entries: list[_Entry] = field(default_factory=list)
    gates: Sequence[GateOutcome] = ()

    def counts(self) -> tuple[dict[str, str], float]:
        """The ``tests``, ``failures``, ``errors`` and ``skipped`` attributes, and seconds."""
        statuses = [e.status for e in self.entries]
        statuses += ["pass" if g.passed else "failure" for g in self.gates]
        times = [e.time for e in self.entries] + ["0"] * len(self.gates)
        seconds = sum(float(t) for t in times)
        counts = {
            "tests": str(len(statuses)),
            "failures": str(statuses.count("failure")),
            "errors": str(statuses.count("error")),
            "skipped": "0",
        }
        return counts, seconds

    def children(self, failed: Iterator[CaseResult]) -> Iterator[str]:
        """Its testcases as written; the full result of each case that did not pass comes
        from ``failed``, in order (a passed case's testcase needs only what the entry keeps,
        and is written without building an element: most cases pass)."""
        classname = _attribute(self.classname)
        for entry in self.entries:
            if entry.status == "pass":
                name = _attribute(entry.key[4])  # the time is digits: nothing to escape
                yield f'<testcase classname={classname} name={name} time="{entry.time}" />'
            else:
                yield _xml(_case(entry, self.classname, next(failed)))
        for gate in self.gates:
            yield _xml(_gate(gate, self.classname))


def _write(
    out: TextIO, run: RunRecord, results: Iterable[CaseResult], gates: Sequence[GateOutcome]
) -> None:
    """The document of one run (and its gates) written to ``out`` a testcase at a time,
    byte for byte as ElementTree writes the whole tree indented."""
    results = reiterable(results)
    suites = _suites(run, results)
    if gates:
        gates_suite = _Suite(f"{run.suite_name} / gates", f"{run.suite_name}.gates",
                             {"run_id": run.run_id}, gates=gates)  # fmt: skip
        suites.append(gates_suite)
    counted = [suite.counts() for suite in suites]
    root = _el("testsuites", name=f"harness: {run.suite_name}")
    total_time = 0.0
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(counts[key]) for counts, _ in counted)))
    for _, seconds in counted:
        total_time += seconds
    root.set("time", f"{total_time:.3f}")
    out.write(_DECLARATION)
    if not suites:
        out.write(ET.tostring(root, encoding="unicode") + "\n")
        return
    failed = _in_order(results, [e for s in suites for e in s.entries if e.status != "pass"])
    start, end = _tags(root)
    out.write(start)
    for suite, (counts, seconds) in zip(suites, counted, strict=True):
        element = _el("testsuite", name=suite.name, timestamp=run.created_at.isoformat())
        for key, value in {**counts, "time": f"{seconds:.3f}"}.items():
            element.set(key, value)
        suite_start, suite_end = _tags(element)
        properties = _el("properties")
        for name, value in suite.properties.items():
            _el("property", properties, name=name, value=value)
        out.write(f"\n  {suite_start}\n    {_xml(properties)}")
        for child in suite.children(failed):
            out.write(f"\n    {child}")
        out.write(f"\n  {suite_end}")
    out.write(f"\n{end}\n")


def _suites(run: RunRecord, results: Iterable[CaseResult]) -> list[_Suite]:
    """One suite per (case set, prompt, provider), from one pass over the results: the
    suite's own cases first, then each bad-case set; prompts and providers in suite order;
    rows by id (a stable order, whatever order the cases finished in)."""
    prompts = {p: i for i, p in enumerate(run.prompts)}
    providers = {p.get("id"): i for i, p in enumerate(run.providers)}
    entries: list[tuple[_Entry, str, str]] = []
    for i, r in enumerate(read_as(results, _ENTRY)):
        key = (
            r.case_set != "main",
            r.case_set,
            prompts.get(r.prompt_id, len(prompts)),
            providers.get(r.provider_id, len(providers)),
            r.row_id,
        )
        entry = _Entry(key, i, r.case_id, _status(r), _secs(r.latency_s), r.model)
        entries.append((entry, r.prompt_id, r.provider_id))
    entries.sort(key=lambda item: item[0].key)
    suites: dict[tuple[str, str, str], _Suite] = {}
    for entry, prompt_id, provider_id in entries:
        case_set = entry.key[1]
        suite = suites.get((case_set, prompt_id, provider_id))
        if suite is None:
            properties = {"run_id": run.run_id, "suite_path": run.suite_path,
                          "case_set": case_set, "prompt_id": prompt_id,
                          "provider_id": provider_id, "model": entry.model}  # fmt: skip
            suite = suites[case_set, prompt_id, provider_id] = _Suite(
                f"{run.suite_name} / {case_set} / {prompt_id} / {provider_id}",
                ".".join((run.suite_name, case_set, prompt_id, provider_id)),
                properties,
            )
        suite.entries.append(entry)
    return list(suites.values())


def _in_order(results: Collection[CaseResult], entries: list[_Entry]) -> Iterator[CaseResult]:
    """The results of ``entries``, in that order (a stored run's fetched by case id)."""
    if isinstance(results, StoredResults):
        return results.by_case_ids([e.case_id for e in entries], _FAILED)
    items = results if isinstance(results, Sequence) else list(results)
    return (items[e.position] for e in entries)


def _status(r: CaseResult) -> str:
    if r.passed:
        return "pass"
    return "error" if r.error is not None else "failure"


def _tags(element: ET.Element) -> tuple[str, str]:
    """The start and end tags of ``element`` as ElementTree writes them."""
    element.text = "\0"  # in no tag: every attribute value went through xml_safe
    start, _, end = ET.tostring(element, encoding="unicode").partition("\0")
    return start, end


def _attribute(value: str) -> str:
    """An attribute's value, quoted, as ElementTree writes it."""
    return f'"{escape(xml_safe(value), _ATTRIBUTE)}"'


def _xml(element: ET.Element) -> str:
    """A child of a ``<testsuite>``, indented as ElementTree indents the whole document."""
    ET.indent(element, level=2)
    return ET.tostring(element, encoding="unicode")


def _el(
    tag: str, parent: ET.Element | None = None, text: str | None = None, **attrs: str
) -> ET.Element:
    attrib = {k: xml_safe(v) for k, v in attrs.items()}
    el = ET.Element(tag, attrib) if parent is None else ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = xml_safe(text)
    return el


def _case(entry: _Entry, classname: str, failed: CaseResult) -> ET.Element:
    """The testcase (its name the row id) of a case that did not pass, whose failure or
    error it describes."""
    case = _el("testcase", classname=classname, name=entry.key[4], time=entry.time)
    tag, kind = ("error", "case_error") if failed.error is not None else ("failure", "score")
    text, summary = failure_details(failed), failure_summary(failed)
    _el(tag, case, text, message=_message(summary), type=kind)
    return case


def _gate(gate: GateOutcome, classname: str) -> ET.Element:
    case = _el("testcase", classname=classname, name=gate.name, time="0")
    if not gate.passed:
        details = getattr(gate, "details", None) or gate.message
        _el("failure", case, details, message=_message(gate.message), type="gate")
    return case


def _message(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _secs(value: float | None) -> str:
    return f"{value or 0.0:.3f}"
