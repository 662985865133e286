#!/usr/bin/env bash
# The project's checks, in three sizes (the README's "Development" section says which to run when):
#   bash scripts/test.sh                everything CI checks: lint, types, the suite on the newest Airflow
#                                       (unit, emulator, hook, dag.test(), e2e on real components, browser),
#                                       the suite on the oldest Airflow line claimed (3.0), a quick benchmark run
#   bash scripts/test.sh --quick        the daily loop: lint, types, the unit tests and one real dag.test() of
#                                       the example DAG against the emulator
#   bash scripts/test.sh <pytest args>  that pytest run only, on the newest Airflow (e.g. tests/hooks -x)
# The full run overlaps what the two cores allow: both venvs are built in seconds (uv), then lint and types,
# the real-cluster modules (mostly waiting on Airflow's components), each Airflow's suite as four pytest
# processes (operators; other DAG runs; object stores and the gallery; the rest) and the benchmarks that
# tolerate company all run at once; the CPU-per-poll benchmarks run last, alone. Each stage's wall time is
# printed at the end; any stage failing fails the run (pytest's exit codes, 5 "no tests collected" included).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOGS=artifacts/test-logs
mkdir -p "$LOGS"
TIMES=$(mktemp)
trap 'rm -f "$TIMES"' EXIT
RUN_STARTED=$(date +%s.%N)

# stage NAME CMD...: run a stage in the foreground and record its wall time and exit code.
stage() {
  local name=$1 started rc=0
  shift
  echo "== $name"
  started=$(date +%s.%N)
  "$@" || rc=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$started" "$(date +%s.%N)" "$rc" >> "$TIMES"
  return "$rc"
}

# log_of NAME: where a stage run in the background writes its output.
log_of() {
  local slug
  slug=$(printf '%s' "$1" | tr -cs 'A-Za-z0-9.' '-')
  echo "$LOGS/${slug%-}.log"
}

# background NAME CMD...: the same in the background, output to its log; `collect NAME` waits for it.
declare -A PIDS=()
background() {
  local name=$1 log
  shift
  log=$(log_of "$name")
  echo "== $name (in the background; $log)"
  ( stage "$name" "$@" > "$log" 2>&1 ) &
  PIDS[$name]=$!
}
FAILED=()
collect() {
  local name=$1 rc=0
  wait "${PIDS[$name]}" || rc=$?
  echo "== $name (finished in the background)"
  cat "$(log_of "$name")"
  [ "$rc" -eq 0 ] || FAILED+=("$name (exit $rc)")
}

report() {
  echo
  echo "== stage wall times (stages overlap; total is the run's own wall time)"
  sort -t $'\t' -k2,2n "$TIMES" | awk -F '\t' -v t0="$RUN_STARTED" '
    { printf "  %-34s starts %6.1f s  takes %6.1f s%s\n", $1, $2 - t0, $3 - $2, ($4 == 0 ? "" : "  FAILED (exit " $4 ")") }'
  awk -v t0="$RUN_STARTED" -v now="$(date +%s.%N)" 'BEGIN { printf "  %-34s %6.1f s\n", "total", now - t0 }'
}

lint() {
  ruff check .
  mypy
}

# The suite on one Airflow as three pytest processes at once: the operators' DAG runs, the other modules
# that run DAGs (lineage, the example DAGs, storage), and the rest. Most of their time is waiting (on the
# emulator's jobs, on dag.test()'s polls), so they overlap well on two cores. NAME names the stages; the
# command before the pytest arguments follows.
OPERATOR_TESTS=(tests/operators)
DAG_RUN_TESTS=(tests/lineage tests/system tests/storage)
# The object stores (real S3 and GCS servers) and the gallery's in-process api-server. tests/objectstores
# runs on the newest Airflow only (its venv alone has the stores' extras), so the oldest runs the others.
STORE_AND_UI_TESTS=(tests/objectstores tests/plugins tests/review)
UI_TESTS=(tests/plugins tests/review)
OTHER_TESTS=(--ignore=tests/browser --ignore=tests/e2e --ignore=tests/operators --ignore=tests/lineage
  --ignore=tests/system --ignore=tests/storage --ignore=tests/objectstores --ignore=tests/plugins
  --ignore=tests/review)
# suite NAME STORES CMD...: STORES names the array of the stores-and-UI process's test paths.
suite() {
  local name=$1 rc=0 operators_log dag_runs_log stores_log operators dag_runs stores
  local -n stores_tests=$2
  shift 2
  operators_log=$(log_of "pytest $name operators")
  dag_runs_log=$(log_of "pytest $name DAG runs")
  stores_log=$(log_of "pytest $name stores and UI")
  ( stage "pytest $name: operators" "$@" --durations=5 "${OPERATOR_TESTS[@]}" > "$operators_log" 2>&1 ) &
  operators=$!
  ( stage "pytest $name: DAG runs" "$@" --durations=5 "${DAG_RUN_TESTS[@]}" > "$dag_runs_log" 2>&1 ) &
  dag_runs=$!
  ( stage "pytest $name: stores and UI" "$@" --durations=5 "${stores_tests[@]}" > "$stores_log" 2>&1 ) &
  stores=$!
  stage "pytest $name: the rest" "$@" --durations=10 "${OTHER_TESTS[@]}" || rc=1
  wait "$operators" || rc=1
  wait "$dag_runs" || rc=1
  wait "$stores" || rc=1
  echo "== pytest $name: operators ($operators_log)"
  cat "$operators_log"
  echo "== pytest $name: DAG runs ($dag_runs_log)"
  cat "$dag_runs_log"
  echo "== pytest $name: stores and UI ($stores_log)"
  cat "$stores_log"
  return "$rc"
}

oldest_airflow() {
  stage "prepare Airflow 3.0 venv" bash scripts/test_oldest_airflow.sh --prepare || return 1
  suite "Airflow 3.0" UI_TESTS bash scripts/test_oldest_airflow.sh --installed -q
}

MODE=full
if [ "${1:-}" = "--quick" ]; then
  MODE=quick
  shift
elif [ "$#" -gt 0 ]; then
  MODE=args
fi

if [ "$MODE" = full ]; then
  # The oldest Airflow line claimed (3.0): its venv is built from a copy of the checkout (touching nothing
  # here), then its suite runs, beside everything below.
  background "oldest Airflow (3.0)" oldest_airflow
fi
stage "bootstrap" bash scripts/bootstrap.sh
VENV=${EVOLINK_VENV:-.venv}
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"
PYTEST=(python -m pytest -p no:cacheprovider)
echo "Airflow $(python -c 'import importlib.metadata as m; print(m.version("apache-airflow-core"))') in $VENV"

if [ "$MODE" = args ]; then
  stage "chromium" bash scripts/ensure_chromium.sh
  stage "pytest $*" "${PYTEST[@]}" --durations=15 "$@"
  exit
fi

if [ "$MODE" = quick ]; then
  rc=0
  background "lint and types" lint
  # One real dag.test() of the example DAG against the emulator, beside the unit tests.
  ( stage "pytest example dag.test()" "${PYTEST[@]}" -q \
      "tests/system/test_example_dags.py::test_image_to_video_dag" > "$(log_of dag-test)" 2>&1 ) &
  dag_test=$!
  stage "pytest unit" "${PYTEST[@]}" -q --durations=5 tests/unit "$@" || rc=1
  wait "$dag_test" || rc=1
  cat "$(log_of dag-test)"
  collect "lint and types"
  report
  [ "${#FAILED[@]}" -eq 0 ] || rc=1
  exit "$rc"
fi

stage "chromium" bash scripts/ensure_chromium.sh
background "lint and types" lint
# Benchmarks far from their targets or only reported (pricing per request, S3 uploads, the 128 MiB
# download report) run beside the tests; the CPU-per-poll ones and the gallery's (its limit=500 page has
# an absolute target, and a loaded machine once read 1.02 s against 1 s) run at the end, alone.
background "benchmarks beside the tests (pricing, S3 upload, download)" \
  bash -c 'python benchmarks/run_all.py --quick --only pricing objectstore_upload &&
    python benchmarks/bench_download.py --mib 128 --rounds 1 --report-only'
# The real-cluster modules (browser, e2e) in their own process: mostly waiting on Airflow's components.
background "pytest clusters (newest Airflow)" "${PYTEST[@]}" -q --durations=10 tests/browser tests/e2e
rc=0
suite "newest Airflow" STORE_AND_UI_TESTS "${PYTEST[@]}" -q || rc=1
collect "lint and types"
collect "oldest Airflow (3.0)"
collect "pytest clusters (newest Airflow)"
collect "benchmarks beside the tests (pricing, S3 upload, download)"
# Last and alone: these benchmarks measure CPU per poll against a floor, and the gallery's page times,
# which other work would blur.
stage "benchmarks alone (quick; the full run: python benchmarks/run_all.py)" \
  python benchmarks/run_all.py --quick --only trigger schedule burst batch gallery || rc=1
report
if [ "$rc" -ne 0 ] || [ "${#FAILED[@]}" -gt 0 ]; then
  echo "FAILED: ${FAILED[*]:-} $([ "$rc" -ne 0 ] && echo '(see the stages above)')" >&2
  exit 1
fi
