#!/usr/bin/env bash
# Re-resolve the newest allowed versions into a scratch venv and rewrite the constraints file.
# Run on purpose, then run the tests and commit the new file. (pip's resolver backtracked for over ten
# minutes on the object-store extras; uv resolves them in seconds.)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
# shellcheck source=lib/installer.sh
. scripts/lib/installer.sh
ensure_uv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make_venv "$tmp/venv"
venv_install "$tmp/venv" -e ".[test,test-objectstores]"
{
  echo "# Pinned versions for CI, the demo and the tests (Python 3.11), as Airflow pins its own."
  echo "# Refresh on purpose: scripts/refresh_constraints.sh, then run the tests and commit the result."
  "$tmp/venv/bin/python" -m pip freeze --exclude-editable | grep -v -i '^airflow-provider-evolink'
} > constraints/constraints-py3.11.txt
rm -rf ./*.egg-info
echo "constraints/constraints-py3.11.txt rewritten"
