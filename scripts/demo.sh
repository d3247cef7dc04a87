#!/usr/bin/env bash
# Set up, then run the demo suite with the embedded model (no API key, no network).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/harness run suites/demo.yaml "$@"
