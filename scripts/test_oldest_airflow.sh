#!/usr/bin/env bash
# The suite on the oldest Airflow line the provider claims (3.0), in its own venv, with the provider
# installed from the checkout the way a user installs it (not editable). The e2e and browser tests run on
# the newest Airflow only (scripts/test.sh), and so do the tests that do not touch Airflow (the emulator,
# the pure core rules, the benchmarks' schedule checks: tests/conftest.py NO_AIRFLOW, left out here with
# --airflow-only).
#   bash scripts/test_oldest_airflow.sh --prepare              only set up the venv and install this checkout
#   bash scripts/test_oldest_airflow.sh [pytest args]          both
#   bash scripts/test_oldest_airflow.sh --installed [args]     only the tests (after --prepare; scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${EVOLINK_OLDEST_VENV:-.venv-airflow-3.0}
# tests/objectstores (real S3/GCS servers) runs on the newest Airflow only: this venv installs the `test`
# extra, not `test-objectstores` (the Amazon and Google providers, s3fs, gcsfs and the servers are pinned for
# the newest Airflow only).
run_tests() {
  "$VENV/bin/python" -m pytest -p no:cacheprovider --airflow-only --ignore=tests/e2e --ignore=tests/browser \
    --ignore=tests/objectstores "$@"
}
if [ "${1:-}" = "--installed" ]; then
  shift
  run_tests "$@"
  exit
fi
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
CONSTRAINTS=constraints/constraints-airflow-3.0-py3.11.txt

# The package is built from a copy of the checkout: building in place leaves an egg-info here, and with
# this folder on sys.path the package would be seen twice (see scripts/bootstrap.sh). It also lets this
# run beside the newest Airflow's tests without touching their files.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
# (The newest Airflow's tests may be writing here meanwhile: tar's exit code 1, "a file changed as we read
# it", is expected; the sources themselves do not change.)
{ tar --exclude='./.venv*' --exclude='./.tools' --exclude='./.git' --exclude='./artifacts' --exclude='*.egg-info' \
    --exclude='__pycache__' --warning=no-file-changed -cf - . || [ $? -eq 1 ]; } | tar -xf - -C "$src"

# shellcheck source=lib/installer.sh
. scripts/lib/installer.sh
ensure_uv
stamp=$(cat setup.cfg pyproject.toml "$CONSTRAINTS" | sha256sum | cut -c1-16)
if ! [ -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.bootstrap-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "Setting up $VENV (Airflow 3.0, pinned by $CONSTRAINTS)..."
  rm -rf "$VENV"
  make_venv "$VENV"
  venv_install "$VENV" -c "$CONSTRAINTS" "$src[test]"
  echo "$stamp" > "$VENV/.bootstrap-stamp"
fi
# Not editable: reinstall so the venv holds this checkout's code.
venv_install "$VENV" --no-deps --reinstall "$src"
"$VENV/bin/python" -c "import airflow, airflow_evolink; print('Airflow', airflow.__version__)"
if [ "${1:-}" = "--prepare" ]; then
  exit 0
fi
run_tests "$@"
