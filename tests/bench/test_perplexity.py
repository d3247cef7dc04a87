"""``harness perplexity`` equals lm-eval's wikitext-style computation (a
``loglikelihood_rolling`` task run by ``lm_eval.simple_evaluate``) on the same texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.bench.perplexity import read_texts
from harness.cli import main
from harness.errors import BenchError

#: Long enough for several 24-token windows; one with a quoted newline and Chinese.
DOCS = [
    "The following are multiple choice questions (with answers) about abstract algebra. " * 4,
    "Find the group ring field element order.\nStatement true false subgroup.",
    "以下是中国关于计算机网络的单项选择题，请选出其中的正确答案。 答案： A",
]
MAX_LENGTH = 24


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ppl") / "docs.jsonl"
    lines = [json.dumps({"id": i, "text": t}, ensure_ascii=False) for i, t in enumerate(DOCS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _lm_eval(model: Path, docs: Path, work: Path) -> dict[str, float]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    task = {
        "task": "ppl_docs",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(docs)}, "cache_dir": str(work / "cache")},
        "test_split": "test",
        "output_type": "loglikelihood_rolling",
        "doc_to_text": "",
        "doc_to_target": "{{text}}",
        "metric_list": [
            {"metric": "word_perplexity"},
            {"metric": "byte_perplexity"},
            {"metric": "bits_per_byte"},
        ],
    }
    (work / "ppl_docs.yaml").write_text(yaml.safe_dump(task, allow_unicode=True), "utf-8")
    out = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model},dtype=float32,max_length={MAX_LENGTH}",
        device="cpu",
        tasks=["ppl_docs"],
        batch_size=2,
        task_manager=TaskManager(include_path=str(work), include_defaults=False),
    )
    return out["results"]["ppl_docs"]


def test_perplexity_equals_lm_eval(tiny_model: Path, docs: Path, tmp_path: Path) -> None:
    reference = _lm_eval(tiny_model, docs, tmp_path)
    js = tmp_path / "ppl.json"
    argv = ["perplexity", "--model", str(tiny_model), "--file", str(docs), "--column", "text"]
    argv += ["--max-length", str(MAX_LENGTH), "--batch-size", "2", "--json", str(js)]
    assert main(argv) == 0
    ours = json.loads(js.read_text("utf-8"))
    for metric in ("word_perplexity", "byte_perplexity", "bits_per_byte"):
        assert ours[metric] == pytest.approx(reference[f"{metric},none"], rel=1e-5), metric
    assert ours["documents"] == 3 and ours["windows"] > ours["documents"]
    assert ours["bytes"] == sum(len(d.encode()) for d in DOCS)


def test_a_text_file_is_one_document(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("line one\n\nline two\n", encoding="utf-8")
    assert read_texts(path) == ["line one\n\nline two\n"]
    with pytest.raises(BenchError, match="name the text column with --column"):
        read_texts(tmp_path / "t.csv")
    table = tmp_path / "t.csv"
    table.write_text("id,body\n1,hello\n2,\n", encoding="utf-8")
    assert read_texts(table, "body") == ["hello"]
    with pytest.raises(BenchError, match="no column 'text'; columns: id, body"):
        read_texts(table, "text")
