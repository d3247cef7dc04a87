"""`harness export` streams a run a chunk at a time: the files equal one whole-run table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.results import export
from harness.results.store import ResultStore

SUITE = """name: exports
prompts: [{id: v1, template: "{{ q }}"}]
providers: [{id: dump, type: outputs, column: out}]
cases:
  - {id: a, vars: {q: one, out: "=1+1"}, expected: "=1+1"}
  - {id: b, vars: {q: two, out: two}, expected: two, assert: [{type: contains, value: tw}]}
  - {id: c, vars: {q: three, out: "x"}, expected: three}
  - {id: d, vars: {q: four, out: four}, expected: four,
     assert: [{type: f1, name: overlap}, {type: contains, value: ou}]}
  - {id: e, vars: {q: five}, expected: five}
defaults:
  assert: [{type: exact}]
"""


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_a_chunked_export_equals_the_whole_table(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "suite.yaml").write_text(SUITE)
    main(["run", "suite.yaml"])
    store = ResultStore(tmp_path / "home" / "results.db")
    run_id = store.list_runs()[0].run_id
    whole = export.export_results(store.results(run_id), fmt, tmp_path / f"whole.{fmt}")
    store.close()
    monkeypatch.setattr(export, "CHUNK", 2)  # three chunks; score columns appear late
    assert main(["export", run_id, "--format", fmt, "-o", f"chunked.{fmt}"]) == 0
    chunked = tmp_path / f"chunked.{fmt}"
    if fmt == "parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(chunked), pd.read_parquet(whole))
    else:
        assert chunked.read_text() == whole.read_text()
    if fmt == "csv":
        table = pd.read_csv(chunked)
        assert [c for c in table.columns if c.startswith("score.")] == [
            "score.exact", "score.contains", "score.overlap"
        ]  # fmt: skip
        outputs = dict(zip(table.row_id, table.output, strict=True))
        assert outputs["b"] == "two" and outputs["a"] == "'=1+1"  # a formula kept as text
        assert pd.isna(outputs["e"])  # the case whose call errored has no output
