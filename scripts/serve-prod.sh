#!/usr/bin/env bash
# Production web server: gunicorn with threaded workers (gthread) serving
# config.wsgi:fast_application, i.e. Django behind cases.dicomweb_fast, which answers a viewer's repeated frame requests of a study that Django
# has just allowed without running Django again (DICOMWEB_ACCESS_CACHE_SECONDS; see that module).
#
# gthread keeps HTTP/1.1 connections alive (the sync worker closes each one), which DICOMweb
# viewers rely on when they fetch hundreds of frames; several processes spread the Python work
# over the cores, a few threads per process overlap database and disk waits.
#
# The master loads the application and every URL module before forking (--preload and
# scripts/gunicorn.conf.py), so a new or recycled worker answers its first request at full speed.
#
# Settings come from the environment as in docs/operations.md (DEBUG=0, SECRET_KEY,
# DEIDENTIFICATION_SECRET, ALLOWED_HOSTS, DATABASE_URL, ...), plus:
#   SAGITTAL_BIND          address to listen on                  (127.0.0.1:8000)
#   SAGITTAL_WEB_WORKERS   worker processes                      (2 per core, at least 2)
#   SAGITTAL_WEB_THREADS   threads per worker                    (2)
#   SAGITTAL_KEEPALIVE     seconds an idle connection stays open (15)
#   DATABASE_CONN_MAX_AGE  seconds a database connection is reused (300 here; the settings'
#                          default of 0 opens a connection per request)
# Extra arguments go to gunicorn, e.g. --access-logfile -.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cores="$(nproc 2>/dev/null || echo 2)"
workers="${SAGITTAL_WEB_WORKERS:-$((cores * 2 > 2 ? cores * 2 : 2))}"

export PYTHONPATH="$repo/platform:$repo${PYTHONPATH:+:$PYTHONPATH}"
export DATABASE_CONN_MAX_AGE="${DATABASE_CONN_MAX_AGE:-300}"

gunicorn="${GUNICORN:-$repo/.venv/bin/gunicorn}"
tmp_dir=/tmp
[ -d /dev/shm ] && tmp_dir=/dev/shm  # the workers' heartbeat files: keep them off the disk

# --no-control-socket: gunicorn's control socket has one default path per user, which several
# servers on one host (a bench next to a dev server) would fight over.
exec "$gunicorn" 'config.wsgi:fast_application' \
  --chdir "$repo" \
  --config "$repo/scripts/gunicorn.conf.py" \
  --preload \
  --worker-tmp-dir "$tmp_dir" \
  --no-control-socket \
  --worker-class gthread \
  --workers "$workers" \
  --threads "${SAGITTAL_WEB_THREADS:-2}" \
  --keep-alive "${SAGITTAL_KEEPALIVE:-15}" \
  --bind "${SAGITTAL_BIND:-127.0.0.1:8000}" \
  --max-requests 20000 --max-requests-jitter 2000 \
  "$@"
