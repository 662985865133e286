#!/usr/bin/env bash
# Everything CI checks: lint, types, and the test suite (unit, emulator, hook, real Airflow, e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
VENV=${EVOLINK_VENV:-.venv}
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"

echo "== ruff"
ruff check .
echo "== mypy"
mypy
echo "== pytest"
python -m pytest -p no:cacheprovider "$@"
