"""``harness init``: a starter suite that validates and runs as written.

Two prompt versions, a small dataset file, two named assertions and a gate, on the
embedded SmolLM2-135M-Instruct model (no API key, no network), so a new user sees a whole
run (summary, report, a gate verdict) before writing a line, then edits it into their own.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import SuiteError

SUITE_FILE = "suite.yaml"
DATA_FILE = "questions.jsonl"

SUITE = """\
# A starter suite from `harness init`: two prompt versions x one model x a small dataset.
#   harness validate suite.yaml     # checks it and renders every prompt; calls nothing
#   harness run suite.yaml          # runs it, prints a summary, writes an HTML report
# The model is the embedded SmolLM2-135M-Instruct (no API key, no network); to test
# yours, replace the provider, e.g. {id: gpt, type: openai, model: gpt-4o-mini}.
name: starter
description: Does asking for a short answer from the passage help?

prompts:
  - id: v1-plain
    template: |
      {{ context }}

      {{ question }}
  - id: v2-short
    system: Answer with the shortest phrase from the passage that answers the question.
    template: |
      Passage: {{ context }}

      Question: {{ question }}

providers:
  - id: smollm2
    type: hf
    model: smollm2-135m-instruct
    params:
      temperature: 0
      max_tokens: 24
      stop: ["\\n"]

cases:
  file: questions.jsonl             # one JSON object per line; other columns are variables
  id: id
  expected: answer                  # a list means several acceptable answers

defaults:
  assert:
    - name: mentions_answer         # each assertion is one column of the summary and report
      type: contains
      ignore_case: true             # passes when the output contains an expected answer
    - name: token_f1
      type: f1                      # SQuAD token F1: penalises long, rambling answers
      threshold: 0.5

gates:                              # `harness run` exits 1 when a gate fails
  - metric: mentions_answer
    min_pass_rate: 0.5
"""

QUESTIONS = """\
{"id": "eiffel", "context": "The Eiffel Tower stands in Paris. It was finished in 1889.", \
"question": "In which city is the Eiffel Tower?", "answer": "Paris"}
{"id": "eiffel-year", "context": "The Eiffel Tower stands in Paris. It was finished in 1889.", \
"question": "In which year was the Eiffel Tower finished?", "answer": "1889"}
{"id": "water", "context": "Water boils at 100 degrees Celsius at sea level.", \
"question": "At what temperature does water boil at sea level?", \
"answer": ["100 degrees Celsius", "100 degrees", "100"]}
{"id": "moon", "context": "Neil Armstrong was the first person to walk on the Moon, in 1969.", \
"question": "Who was the first person to walk on the Moon?", \
"answer": ["Neil Armstrong", "Armstrong"]}
{"id": "python", "context": "Python is a programming language created by Guido van Rossum.", \
"question": "Who created Python?", "answer": ["Guido van Rossum", "van Rossum"]}
{"id": "mars", "context": "Mars is called the Red Planet because of the iron oxide on it.", \
"question": "Which planet is called the Red Planet?", "answer": "Mars"}
"""


def write_starter(folder: Path) -> list[Path]:
    """Write the starter suite and its dataset into ``folder`` (made if missing); the suite
    file first. Refuses, writing nothing, when either file exists already."""
    files = {folder / SUITE_FILE: SUITE, folder / DATA_FILE: QUESTIONS}
    for path in files:
        if path.exists():
            raise SuiteError(
                "already exists; harness init never overwrites a file: give another "
                "folder (harness init DIR) or move the file away",
                path,
            )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            with path.open("x", encoding="utf-8") as f:  # "x": never replace a file
                f.write(text)
    except OSError as e:
        raise SuiteError(f"cannot write the starter suite: {e}", folder) from None
    return list(files)
