"""``harness bench`` from the command line: output files, bad input and missing extras
(exit 2), what it prints, and what building the parser imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]


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
    # acc_norm where lm-eval's own task has it (cmmlu), not where it has not (mmlu)
    assert "acc_norm" in out
    assert result["subjects"][0]["acc_norm"] is not None
    assert result["subjects"][1]["acc_norm"] is None and result["micro_acc_norm"] is None
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


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["bench", "--tasks", "mmlu:abstract_algebra", "--shots", "0"], "harness bench"),
        (["perplexity", "--file", "t.txt"], "harness perplexity"),
    ],
)
def test_without_the_bench_extra_one_line_names_the_install_command(
    tiny_model: Path,
    dialect_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    argv: list[str],
    command: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.txt").write_text("some text to score\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # as if lm-eval were not installed
    argv = [*argv, "--model", str(tiny_model)]
    if argv[0] == "bench":
        argv += ["--data", str(dialect_data)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"error: {command} needs the 'bench' extra (lm_eval not installed): "
        "pip install -c constraints.txt -e '.[bench]'"
    ]


def test_the_extras_name_modules_that_pyproject_installs() -> None:
    """harness.extras says which extra to install for a module: pyproject must agree."""
    from importlib.metadata import packages_distributions

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from harness.extras import EXTRAS

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "optional-dependencies"
    ]

    def installs(extra: str) -> set[str]:
        names = set()
        for spec in extras[extra]:
            req = Requirement(spec)
            names |= {canonicalize_name(req.name)}
            for inner in req.extras if req.name == "harness" else ():
                names |= installs(inner)
        return names

    distributions = packages_distributions()
    for extra, modules in EXTRAS.items():
        for module in modules:
            # a module not installed here (vllm: GPU machines only) is its distribution's name
            [dist] = distributions.get(module, [module])
            assert canonicalize_name(dist) in installs(extra), (extra, module)


def test_building_the_parser_imports_no_heavy_library() -> None:
    """Every command (and `harness --help`) builds the parser: it must not load lm-eval,
    torch, transformers, numpy, scipy, pandas, the SDK, pydantic models, YAML or Jinja, nor
    rich's progress bar (a fresh interpreter, to see it): start-up time."""
    heavy = ["lm_eval", "torch", "transformers", "numpy", "scipy", "pandas", "datasets",
             "openai", "pydantic", "yaml", "jinja2", "rich.progress", "harness.api"]  # fmt: skip
    code = (
        "import sys, harness.cli; harness.cli._parser(); "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def test_the_bench_package_never_imports_the_cli() -> None:
    """harness.cli imports harness.bench.command; the way back would be an import cycle."""
    for path in (ROOT / "harness" / "bench").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module] if isinstance(node, ast.ImportFrom) else []
                names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
                assert "harness.cli" not in names, path.name


def _outside_git(path: Path) -> None:
    found = subprocess.run(["git", "-C", str(path), "rev-parse"], capture_output=True)
    if found.returncode == 0:
        pytest.skip(f"{path} is inside a git checkout")


def test_a_run_outside_git_prints_no_git_errors(
    tiny_model: Path,
    dialect_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture,
) -> None:
    """lm-eval records the working directory's git commit; outside a checkout that must not
    print git's "fatal: not a git repository" (captured at the file descriptor: git is a
    child process)."""
    _outside_git(tmp_path)
    monkeypatch.chdir(tmp_path)
    argv = _bench(tiny_model, dialect_data, "--tasks", "ceval:computer_network", "--shots", "0")
    assert main([*argv, "--limit", "1", "-o", str(tmp_path / "r.html")]) == 0
    assert "fatal:" not in capfd.readouterr().err


@pytest.mark.slow
def test_suite_benchmark_tables_are_headed_by_provider_ids(
    tiny_model: Path,
    dialect_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)
    suite = {
        "name": "ids",
        "providers": [
            {"id": "base", "type": "hf", "model": str(tiny_model)},
            {"id": "tuned", "type": "hf", "model": str(tiny_model), "batch_size": 2},
        ],
        "benchmarks": [
            {"tasks": "mmlu:abstract_algebra", "data": str(dialect_data), "shots": 0,
             "limit": 2, "compare_to": "base"},
        ],
    }  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite), "utf-8")
    assert main(["bench", "--suite", str(path)]) == 0
    titles = [line for line in capsys.readouterr().out.splitlines() if "-shot" in line]
    assert [t.split(":")[0].strip() for t in titles] == ["tuned (candidate)", "base (compare_to)"]
