#!/usr/bin/env bash
# The suite on the oldest Airflow line the provider claims (3.0), in its own venv, with the provider
# installed from the checkout the way a user installs it (not editable). The e2e tests run on the newest
# Airflow only (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${EVOLINK_OLDEST_VENV:-.venv-airflow-3.0}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
CONSTRAINTS=constraints/constraints-airflow-3.0-py3.11.txt

stamp=$(cat setup.cfg pyproject.toml "$CONSTRAINTS" | sha256sum | cut -c1-16)
if ! [ -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.bootstrap-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "Setting up $VENV (Airflow 3.0, pinned by $CONSTRAINTS)..."
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c "$CONSTRAINTS" ".[test]" 2>&1 \
    | grep -v '^WARNING: Location' || true
  echo "$stamp" > "$VENV/.bootstrap-stamp"
fi
# The package is installed, not editable: reinstall it so the venv holds this checkout's code.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall . 2>&1 \
  | grep -v '^WARNING: Location' || true
# Building the package leaves airflow_provider_evolink.egg-info here: remove it, or the package is seen
# twice from this folder (see scripts/bootstrap.sh).
rm -rf ./*.egg-info
"$VENV/bin/python" -c "import airflow, airflow_evolink; print('Airflow', airflow.__version__)"
"$VENV/bin/python" -m pytest -p no:cacheprovider --ignore=tests/e2e "$@"
