"""`harness init`: a starter suite that validates, runs, and never overwrites a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.results.store import ResultStore
from harness.suite.loader import load_suite


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def test_init_writes_a_suite_that_validates(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["init", "starter"]) == 0
    assert "next: harness validate starter/suite.yaml" in capsys.readouterr().out
    suite = load_suite(tmp_path / "starter" / "suite.yaml").suite
    assert len(suite.prompts) == 2 and len(suite.gates) == 1
    assert [a.label for a in suite.defaults.assert_] == ["mentions_answer", "token_f1"]
    (provider,) = suite.providers
    assert (provider.type, provider.model) == ("hf", "smollm2-135m-instruct")
    assert main(["validate", "starter/suite.yaml"]) == 0
    assert "2 prompt version(s) x 1 provider(s), 12 cases" in capsys.readouterr().out


def test_init_defaults_to_the_working_directory(tmp_path: Path, home: Path) -> None:
    assert main(["init"]) == 0
    assert {p.name for p in tmp_path.iterdir()} >= {"suite.yaml", "questions.jsonl"}


def test_init_refuses_to_overwrite_and_writes_nothing(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "questions.jsonl").write_text("mine\n")
    assert main(["init", "."]) == 2
    err = capsys.readouterr().err
    assert "questions.jsonl: already exists; harness init never overwrites" in err
    assert "Traceback" not in err
    assert (tmp_path / "questions.jsonl").read_text() == "mine\n"
    assert not (tmp_path / "suite.yaml").exists()


def test_the_starter_suite_runs_and_gates(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture
) -> None:
    """The written suite as is, but for the model: stored outputs stand in for SmolLM2 (the
    real model runs in the slow test below)."""
    main(["init", "starter"])
    folder = tmp_path / "starter"
    rows = [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines()]
    answers = {r["id"]: r["answer"] if isinstance(r["answer"], str) else r["answer"][0]
               for r in rows}  # fmt: skip
    answers["moon"] = "It was Buzz."  # one wrong answer per prompt version
    (folder / "outputs.jsonl").write_text(
        "".join(json.dumps({"id": k, "output": v}) + "\n" for k, v in answers.items())
    )
    data = yaml.safe_load((folder / "suite.yaml").read_text())
    data["providers"] = [{"id": "stored", "type": "outputs", "file": "outputs.jsonl"}]
    (folder / "suite.yaml").write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["run", "starter/suite.yaml"]) == 0
    out = capsys.readouterr().out
    assert "mentions_answer" in out and "token_f1" in out and "83.3%" in out
    assert "PASS gates[0]" in out
    (run,) = ResultStore(home / "results.db").list_runs()
    assert run.n_cases == 12 and run.status == "complete"


@pytest.mark.slow  # loads and runs SmolLM2-135M on the CPU: about a minute on a free core
def test_the_starter_suite_runs_on_the_embedded_model(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture
) -> None:
    main(["init", "starter"])
    code = main(["run", "starter/suite.yaml"])
    out = capsys.readouterr().out
    assert code in (0, 1)  # the gate's verdict is the model's business; the run must finish
    assert "gates[0]" in out and "Report:" in out
    (run,) = ResultStore(home / "results.db").list_runs()
    assert run.status == "complete"
    assert all(r.error is None for r in ResultStore(home / "results.db").results(run.run_id))
