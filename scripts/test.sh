#!/usr/bin/env bash
# Everything CI checks: lint, types, the suite on the newest Airflow (unit, emulator, hook, dag.test(),
# e2e on real components), the suite on the oldest Airflow line claimed, and a quick benchmark run.
# Arguments go to the first pytest run only (e.g. `bash scripts/test.sh tests/hooks -x`), and then
# the other stages are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ensure_chromium.sh
VENV=${EVOLINK_VENV:-.venv}
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"

if [ "$#" -eq 0 ]; then
  # The oldest Airflow's venv is set up meanwhile (it builds from a copy, touching nothing here).
  mkdir -p artifacts
  bash scripts/test_oldest_airflow.sh --prepare > artifacts/oldest-airflow-setup.log 2>&1 &
  prepare=$!
fi

echo "== ruff"
ruff check .
echo "== mypy"
mypy
echo "== pytest (Airflow $(python -c 'import airflow; print(airflow.__version__)'))"
python -m pytest -p no:cacheprovider --durations=15 "$@"
if [ "$#" -gt 0 ]; then
  exit 0
fi
echo "== pytest (oldest Airflow line claimed: 3.0)"
wait "$prepare" || { cat artifacts/oldest-airflow-setup.log; exit 1; }
bash scripts/test_oldest_airflow.sh -q
echo "== benchmarks (quick configuration; the full run is: python benchmarks/run_all.py)"
python benchmarks/run_all.py --quick
python benchmarks/bench_download.py --mib 128 --rounds 1 --report-only
