"""``harness bench`` from the command line: output files, and bad input (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main


def _bench(model: Path | str, data: Path, *args: str) -> list[str]:
    return ["bench", "--model", str(model), "--data", str(data), *args]


def test_bench_prints_table_writes_json_and_html(
    tiny_model: Path, dialect_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    argv = _bench(tiny_model, dialect_data, "--tasks", "cmmlu:chinese_history,mmlu:toy_subject")
    argv += [
        "--shots",
        "1",
        "--limit",
        "3",
        "--batch-size",
        "2",
        "-o",
        str(html),
        "--json",
        str(js),
    ]
    argv += ["--work-dir", str(tmp_path / "work")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "cmmlu:chinese_history" in out and "macro" in out and "micro" in out
    data = json.loads(js.read_text("utf-8"))
    assert data["reference"] is None and data["flips"] is None
    result = data["result"]
    assert result["schema_version"] == 1 and result["shots"] == 1 and result["limit"] == 3
    assert [s["n"] for s in result["subjects"]] == [3, 3]
    assert result["subjects"][1]["description_source"] == "fallback"
    page = html.read_text("utf-8")
    assert "<svg" in page and "cmmlu:chinese_history" in page and "<script" not in page
    # the kept work folder runs with lm-eval as it is
    assert (tmp_path / "work/tasks/bench_cmmlu_chinese_history.yaml").is_file()


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ("mmluu:abstract_algebra", "Unknown benchmark 'mmluu'"),
        ("mmlu:algebra", "Unknown mmlu subject 'algebra'"),
        ("ceval:computer_network,cmmlu:nope", "Available: chinese_history"),
    ],
)
def test_bad_tasks_exit_2_with_a_clear_message(
    tiny_model: Path,
    dialect_data: Path,
    capsys: pytest.CaptureFixture,
    tasks: str,
    message: str,
) -> None:
    assert main(_bench(tiny_model, dialect_data, "--tasks", tasks)) == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err and "Traceback" not in err


def test_missing_data_folder_and_model_exit_2(
    tiny_model: Path, dialect_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(_bench(tiny_model, tmp_path / "absent", "--tasks", "mmlu:x")) == 2
    assert "data folder" in capsys.readouterr().err
    assert main(_bench(tmp_path / "no-model", dialect_data, "--tasks", "mmlu")) == 2
    assert "neither a folder nor a .gguf" in capsys.readouterr().err
    args = _bench(tiny_model, dialect_data, "--tasks", "mmlu:abstract_algebra", "--shots", "9")
    assert main(args) == 2
    assert "--shots 9 but mmlu:abstract_algebra has 5 dev rows" in capsys.readouterr().err
    assert main([*args[:-2], "--dtype", "float8"]) == 2
    assert "unknown dtype 'float8'" in capsys.readouterr().err


def test_help_names_the_shared_datasets(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "shared/datasets" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--tasks", "mmlu", "--batch-size", "0"], "--batch-size input should be greater"),
        (["perplexity", "--file", "t.txt", "--batch-size", "0"], "--batch-size input should be"),
        (["perplexity", "--file", "t.txt", "--max-length", "1"], "--max-length input should be"),
        (["perplexity", "--file", "t.txt", "--limit", "0"], "--limit must be 1 or more"),
        (["perplexity", "--file", "empty.txt"], "empty.txt has no text to score"),
    ],
)
def test_bad_numbers_and_empty_text_exit_2_without_traceback(
    tiny_model: Path,
    dialect_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.txt").write_text("some text to score\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_text(" \n", encoding="utf-8")
    argv = [*argv, "--model", str(tiny_model)]
    if argv[0] == "bench":
        argv += ["--data", str(dialect_data)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err and "Traceback" not in err


def test_an_adapter_makes_another_model_and_the_same_model_twice_is_refused(
    tiny_model: Path, dialect_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from harness.bench.run import BenchConfig, local_model

    config = BenchConfig("mmlu", dialect_data)
    base, tuned = local_model("ckpt", config), local_model("ckpt", config, adapter="lora")
    assert base.id != tuned.id  # else the stored run would hold one model's cases, not two
    argv = _bench(tiny_model, dialect_data, "--tasks", "mmlu", "--compare-to", str(tiny_model))
    assert main(argv) == 2
    assert "--compare-to names the same model as --model" in capsys.readouterr().err
