#!/usr/bin/env bash
# The demo: example DAG 1 (Kling image to video) in real Airflow, against the bundled emulator.
# No API key, no spend. Sets up .venv on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
VENV=${EVOLINK_VENV:-.venv}
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"

DEMO=$PWD/.demo
mkdir -p "$DEMO"
export AIRFLOW_HOME=$DEMO/airflow-home
export AIRFLOW__CORE__DAGS_FOLDER=$PWD/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__LOGGING__LOGGING_LEVEL=${AIRFLOW__LOGGING__LOGGING_LEVEL:-WARNING}

python -m airflow_evolink.emulator --host 127.0.0.1 --port 0 --job-seconds "${DEMO_JOB_SECONDS:-8}" \
  > "$DEMO/emulator.log" 2>&1 &
EMULATOR_PID=$!
trap 'kill $EMULATOR_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$DEMO/emulator.log" 2>/dev/null && break
  sleep 0.1
done
URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$DEMO/emulator.log" | head -1 || true)
[ -n "$URL" ] || { echo "the emulator did not start:" >&2; cat "$DEMO/emulator.log" >&2; exit 1; }
echo "Evolink emulator at $URL"

# The one connection the DAG uses. For the real API: host https://api.evolink.ai, password = your key.
export AIRFLOW_CONN_EVOLINK_DEFAULT="{\"conn_type\": \"evolink\", \"host\": \"$URL\", \"password\": \"sk-demo-no-real-key\"}"

airflow db migrate > "$DEMO/db-migrate.log" 2>&1 || { cat "$DEMO/db-migrate.log" >&2; exit 1; }
echo "Running example_evolink_image_to_video with 'airflow dags test' (the sensor defers; its trigger runs inline)..."
airflow dags test example_evolink_image_to_video > "$DEMO/dags-test.log" 2>&1 \
  || { tail -50 "$DEMO/dags-test.log" >&2; echo "the DAG run failed; full log: $DEMO/dags-test.log" >&2; exit 1; }
python scripts/show_results.py example_evolink_image_to_video
echo "Full log: $DEMO/dags-test.log"
