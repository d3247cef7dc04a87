"""`harness runs --suite/--since/--provider/--limit`: filters that combine, and clear notes and
errors for what matches nothing."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness.cli import main
from harness.history import RunFilter, no_match_note, parse_since, select_runs
from harness.results.models import RunRecord
from harness.results.store import ResultStore

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def run(run_id: str, suite: str, hours: float, providers: tuple[str, ...]) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        suite_name=suite,
        suite_path=f"{suite}.yaml",
        suite_hash=suite,
        created_at=T0 + timedelta(hours=hours),
        status="complete",
        harness_version="0",
        providers=[{"id": p, "type": "outputs"} for p in providers],
        prompts=["v1"],
    )


#: Newest first, as the store lists them.
RUNS = [
    run("qa-3", "qa", 48, ("gpt",)),  # 2026-12-01 12:00
    run("chat-2", "chat", 30, ("qwen",)),  # 2026-11-30 18:00
    run("qa-2", "qa", 14, ("gpt", "qwen")),  # 2026-11-30 02:00
    run("qa-1", "qa", 0, ("qwen",)),  # 2026-11-29 12:00
]


def ids(where: RunFilter) -> list[str]:
    return [r.run_id for r in select_runs(RUNS, where)]


def test_each_filter_and_their_combination() -> None:
    assert ids(RunFilter()) == ["qa-3", "chat-2", "qa-2", "qa-1"]
    assert ids(RunFilter(suite="qa")) == ["qa-3", "qa-2", "qa-1"]
    assert ids(RunFilter(provider="qwen")) == ["chat-2", "qa-2", "qa-1"]
    assert ids(RunFilter(since=parse_since("2026-11-30"))) == ["qa-3", "chat-2", "qa-2"]
    assert ids(RunFilter(suite="qa", provider="qwen", since=parse_since("2026-11-30"))) == ["qa-2"]
    assert ids(RunFilter(suite="qa", limit=2)) == ["qa-3", "qa-2"]  # the newest


def test_since_takes_a_date_a_time_or_an_offset() -> None:
    assert parse_since("2026-11-30") == datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_since("2026-11-30T03:00") == datetime(2026, 11, 30, 3, tzinfo=UTC)
    plus_two = parse_since("2026-11-30T03:00+02:00")
    assert plus_two.utcoffset() == timedelta(hours=2)
    assert ids(RunFilter(since=parse_since("2026-11-30T02:00"))) == ["qa-3", "chat-2", "qa-2"]
    assert ids(RunFilter(since=parse_since("2026-11-30T03:00"))) == ["qa-3", "chat-2"]
    # 03:00 at +02:00 is 01:00 UTC: qa-2 (02:00 UTC) is after it
    assert ids(RunFilter(since=plus_two)) == ["qa-3", "chat-2", "qa-2"]
    est = timezone(timedelta(hours=-5))
    assert parse_since("2026-11-30 13:00-05:00") == datetime(2026, 11, 30, 13, tzinfo=est)
    with pytest.raises(argparse.ArgumentTypeError, match="expected an ISO date such as"):
        parse_since("30/11/2026")


def test_notes_say_what_is_stored() -> None:
    assert no_match_note([], RunFilter(suite="qa")).startswith("no runs stored yet")
    assert no_match_note(RUNS, RunFilter(suite="QA")) == (
        "no run has the suite 'QA'. Did you mean 'qa'? Suites stored: chat, qa"
    )
    assert no_match_note(RUNS, RunFilter(provider="claude")) == (
        "no run has the provider 'claude'. Providers stored: gpt, qwen"
    )
    where = RunFilter(suite="chat", provider="gpt", since=parse_since("2026-12-01"))
    assert no_match_note(RUNS, where) == (
        "no run matches --suite chat --provider gpt --since 2026-12-01T00:00:00+00:00"
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    store = ResultStore(tmp_path / "home" / "results.db")
    for r in RUNS:
        store.save_run(r)
    store.close()
    return tmp_path


def listed(out: str) -> list[str]:
    return [r.run_id for r in RUNS if f" {r.run_id} " in out]


def test_the_command_filters(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--suite", "qa", "--provider", "qwen"]) == 0
    assert listed(capsys.readouterr().out) == ["qa-2", "qa-1"]
    assert main(["runs", "--since", "2026-11-30T12:00", "--limit", "1"]) == 0
    assert listed(capsys.readouterr().out) == ["qa-3"]


def test_the_command_notes_an_unknown_suite(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--suite", "qaa"]) == 0
    captured = capsys.readouterr()
    assert listed(captured.out) == []
    assert "no run has the suite 'qaa'. Did you mean 'qa'? Suites stored: chat, qa" in " ".join(
        captured.err.split()
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["runs", "--since", "2026-13-01"], "argument --since: expected an ISO date"),
        (["runs", "--limit", "0"], "argument --limit: expected a whole number of at least 1"),
    ],
)
def test_bad_values_exit_2(
    home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", [["runs"], ["report", "r1"], ["trend", "qa"], ["export", "r1"]])
def test_a_reading_command_refuses_a_store_that_is_not_there(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "typo" / "resluts.db"
    assert main([*command, "--db", str(typo)]) == 2
    assert f"no results store at {typo}" in capsys.readouterr().err
    assert not typo.parent.exists()  # a typo makes no empty store
