#!/usr/bin/env bash
# Re-resolve the newest allowed versions into a scratch venv and rewrite the constraints file.
# Run on purpose, then run the tests and commit the new file.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
tmp=$(mktemp -d)
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet -e ".[test]" 2>&1 | grep -v '^WARNING: Location' || true
{
  echo "# Pinned versions for CI, the demo and the tests (Python 3.11), as Airflow pins its own."
  echo "# Refresh on purpose: scripts/refresh_constraints.sh, then run the tests and commit the result."
  "$tmp/venv/bin/pip" freeze --exclude-editable | grep -v -i '^airflow-provider-evolink'
} > constraints/constraints-py3.11.txt
rm -rf "$tmp"
echo "constraints/constraints-py3.11.txt rewritten"
