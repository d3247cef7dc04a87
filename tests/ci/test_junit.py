"""JUnit XML: one testcase per case and per gate, readable failures, and any output escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.ci.junit import junit_xml, write_junit, xml_safe
from harness.cli import main
from tests.ci.helpers import result, run_record, score, write_suite


@dataclass
class Gate:
    name: str
    passed: bool
    message: str


def parse(text: str) -> ET.Element:
    return ET.fromstring(text.encode("utf-8"))


def test_one_testsuite_per_set_prompt_provider_and_one_testcase_per_case() -> None:
    results = [
        result("a"),
        result("b", "wrong", scores=[score("exact", 0.0)]),
        result("a", prompt_id="v2"),
        result("x", case_set="regressions"),
        result("c", error="RateLimitError: 429 too many requests"),
    ]
    root = parse(junit_xml(run_record(), results))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "1")
    names = [s.get("name") for s in root.findall("testsuite")]
    # the suite's own cases first, prompts in suite order, bad-case sets after
    assert names == ["s / main / v1 / fake", "s / main / v2 / fake", "s / regressions / v1 / fake"]
    first = root.find("testsuite")
    assert first is not None
    assert (first.get("tests"), first.get("failures"), first.get("errors")) == ("3", "1", "1")
    props = {p.get("name"): p.get("value") for p in first.iter("property")}
    assert props["run_id"] == "run-1" and props["model"] == "fake-model"
    cases = {c.get("name"): c for c in first.findall("testcase")}
    assert set(cases) == {"a", "b", "c"}
    assert cases["a"].get("classname") == "s.main.v1.fake"
    assert cases["a"].get("time") == "0.250"
    assert list(cases["a"]) == []  # passed: no child element
    error = cases["c"].find("error")
    assert error is not None and error.get("message", "").startswith("error: RateLimitError")


def test_a_failure_shows_prompt_output_expected_and_score_against_threshold() -> None:
    failed = result(
        "b",
        "the answer is 5",
        scores=[
            score("f1", 0.2, 0.5),
            score("exact", 1.0),
            score("latency", 9.0, 2.0, higher=False),
        ],
        expected=["4", "four"],
    )
    root = parse(junit_xml(run_record(), [failed]))
    failure = root.find(".//failure")
    assert failure is not None
    assert failure.get("type") == "score"
    assert failure.get("message") == "f1 = 0.200 < 0.500; latency = 9.000 > 2.000"
    body = failure.text or ""
    assert "Q: question b" in body  # the prompt
    assert "the answer is 5" in body  # the output
    assert "expected: '4' | 'four'" in body
    assert "FAIL  f1 = 0.200 < 0.500" in body
    assert "pass  exact = 1.000 >= 1.000" in body


def test_gates_get_a_testsuite_of_their_own() -> None:
    gates = [
        Gate("pass-rate >= 0.9", True, "0.95"),
        Gate("no bad case fails again", False, "2 <b>"),
    ]
    root = parse(junit_xml(run_record(), [result("a")], gates))
    suite = root.findall("testsuite")[-1]
    assert suite.get("name") == "s / gates"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["pass-rate >= 0.9", "no bad case fails again"]
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == "2 <b>"
    assert (root.get("tests"), root.get("failures")) == ("3", "1")


NASTY = (
    "\x00nul \x1b[31mred\x1b[0m \x08\x0b\x0c \ud800 \ufffe\uffff ]]> <&> \"'"
    + "\r\n\ttab 北京 \U0001f600"
)


def test_any_model_output_makes_well_formed_xml() -> None:
    nasty = result(
        "row<&>\x01",
        NASTY,
        scores=[score("exact", 0.0)],
        expected=[NASTY],
        vars={"q": NASTY},
    )
    nasty.scores[0].explanation = NASTY
    text = junit_xml(run_record(), [nasty, result("e", error=f"ProviderError: {NASTY}")])
    text.encode("utf-8")  # no lone surrogate left
    root = parse(text)
    failure = root.find(".//failure")
    assert failure is not None
    body = failure.text or ""
    assert "\\x00nul \\x1b[31mred" in body
    assert "]]> <&>" in body and "北京 \U0001f600" in body
    assert [c.get("name") for c in root.iter("testcase")] == ["e", "row<&>\\x01"]
    assert "\x1b" not in text and "\x00" not in text


def test_a_passed_case_is_written_as_elementtree_writes_it() -> None:
    """Passed cases skip building an element: their odd names still come out as ElementTree
    escapes them."""
    odd = "a&b<c>d\"e'f\r\ng\th\x1b\ud800"
    text = junit_xml(run_record(suite=odd), [result(odd), result("b", "wrong", passed=False)])
    body = text.partition("\n")[2]
    root = ET.fromstring(body)
    ET.indent(root)
    assert ET.tostring(root, encoding="unicode") + "\n" == body
    assert [c.get("name") for c in root.iter("testcase")] == [xml_safe(odd), "b"]


def test_xml_safe_keeps_what_xml_allows() -> None:
    assert xml_safe("a\tb\nc\rd é 北 \U0001f600") == "a\tb\nc\rd é 北 \U0001f600"
    assert xml_safe("\x00\x1f\ud83d\uffff") == "\\x00\\x1f\\ud83d\\uffff"


def test_long_outputs_are_cut_in_the_message_not_lost(tmp_path: Path) -> None:
    long = "y" * 20_000
    path = write_junit(
        run_record(), [result("a", long, scores=[score("exact", 0.0)])], tmp_path / "deep" / "j.xml"
    )
    failure = ET.parse(path).getroot().find(".//failure")
    assert failure is not None
    assert "16000 more characters" in (failure.text or "")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_harness_run_writes_junit_xml(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_suite(project, [("good", "4", "4"), ("bad", "5", "4")])
    code = main(["run", str(suite), "--junit-xml", "out/junit.xml", "--report", "r.html"])
    assert code == 0
    assert "JUnit XML: out/junit.xml" in capsys.readouterr().out
    root = ET.parse(project / "out" / "junit.xml").getroot()
    assert (root.get("tests"), root.get("failures")) == ("2", "1")
    failure = root.find(".//testcase[@name='bad']/failure")
    assert failure is not None and failure.get("message") == "exact = 0.000 < 1.000"
