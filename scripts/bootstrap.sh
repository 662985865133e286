#!/usr/bin/env bash
# Create (or reuse) the project's virtualenv with Airflow, this provider and the test tools,
# pinned by the constraints file. Quick when nothing changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${EVOLINK_VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
CONSTRAINTS=constraints/constraints-py3.11.txt

stamp=$(cat setup.cfg pyproject.toml "$CONSTRAINTS" | sha256sum | cut -c1-16)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.bootstrap-stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

echo "Setting up $VENV (Airflow and the provider, pinned by $CONSTRAINTS); under a minute with uv..."
# shellcheck source=lib/installer.sh
. scripts/lib/installer.sh
ensure_uv
rm -rf "$VENV"
make_venv "$VENV"
venv_install "$VENV" -c "$CONSTRAINTS" -e ".[test,test-objectstores]"
# The editable install leaves airflow_provider_evolink.egg-info here; with this folder on sys.path (pytest,
# python -m) the package would be seen twice, its airflow.plugins entry point loaded twice, and Airflow's
# Task SDK stops registering entry-point plugins at the first duplicate (later ones, e.g. OpenLineage's
# listener, are dropped). The installed dist-info is all Python needs.
rm -rf ./*.egg-info
"$VENV/bin/python" -c "import airflow, airflow_evolink, aiohttp, tenacity, pydantic" \
  || { echo "bootstrap failed: the virtualenv cannot import its packages" >&2; exit 1; }
echo "$stamp" > "$VENV/.bootstrap-stamp"
