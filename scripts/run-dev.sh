#!/usr/bin/env bash
# Start a Celery worker and the web server; stop both on Ctrl-C.
# Runs from anywhere (`bash scripts/run-dev.sh [HOST] [PORT]`): it sets its own paths.
set -euo pipefail
host=${1:-127.0.0.1}
port=${2:-8000}
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
py="$repo/.venv/bin/python"
# platform/ is a source root (docs/architecture.md): the worker needs it on the path.
export PYTHONPATH="$repo/platform:$repo${PYTHONPATH:+:$PYTHONPATH}"
export DEBUG="${DEBUG:-1}"

mkdir -p var
# -B: the embedded beat runs the periodic reaper of stale inference jobs (production runs one
# `celery beat` process instead).
$py -m celery -A config worker -B --schedule var/celerybeat-schedule --loglevel=INFO \
  --concurrency=1 -Q default,gpu \
  --logfile var/worker.log &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM

cat <<MSG

  Sagittal is running on http://$host:$port/
  The demo's inference jobs run in the worker now: http://$host:$port/inference/jobs/
  Demo logins (password: ${DEMO_PASSWORD:-sagittal-demo}):
    admin        administrator
    coordinator  study coordinator
    reader-a     reader (orthopedic specialist A)
    reader-b     reader (orthopedic specialist B)
    surgeon      reader (operating surgeon)
  Health: http://$host:$port/healthz   API docs: http://$host:$port/api/docs/
  Worker log: var/worker.log

MSG
$py manage.py runserver "$host:$port" --noreload
