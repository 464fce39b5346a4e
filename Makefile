# Two commands set everything up on a bare machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | sha256sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000
# platform/ is a source root (see docs/architecture.md); Celery and gunicorn need it on the path.
export PYTHONPATH := $(CURDIR)/platform:$(CURDIR)

.PHONY: run test lint system-deps venv clean demo worker frontend frontend-check messages

venv: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

system-deps:
	bash scripts/system-deps.sh

# The demo's inference jobs are queued for the worker that run-dev.sh starts: the first page is
# served while they run (their progress shows on the case pages).
run: venv
	DEBUG=1 $(PY) manage.py compile_catalogues
	DEBUG=1 $(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py demo
	DEBUG=1 bash scripts/run-dev.sh $(HOST) $(PORT)

demo: venv
	DEBUG=1 $(PY) manage.py demo

worker: venv
	DEBUG=1 $(PY) -m celery -A config worker --loglevel=INFO --concurrency=1 -Q default,gpu

# The tests use their own var/ (broker folder, test database) so that a `make run` next to them
# does not consume their tasks.
test: venv system-deps
	DEBUG=1 $(PY) manage.py compile_catalogues
	DEBUG=1 SAGITTAL_VAR_DIR=$(CURDIR)/var/test $(PY) -m pytest $(PYTEST_ARGS)

# lint-imports: the floors, no import cycles, no private names across modules (.importlinter,
# scripts/import_floors.py; docs/architecture.md).
lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DEBUG=1 $(VENV)/bin/lint-imports --no-cache
	DEBUG=1 $(PY) -m mypy platform readerstudy inference

# The viewer bundle (frontend/static/viewer, cornerstone3D built by Vite) is committed, so
# running the platform needs no Node; these targets need Node 20 and npm. `npm ci` refuses a
# lockfile without other platforms' optional binaries (rollup, esbuild), which is what npm
# writes behind a registry mirror carrying only this platform's; `npm install --no-save` then
# installs the same locked versions without rewriting the lockfile.
NPM_FLAGS := --no-audit --no-fund --loglevel=error
frontend:
	cd frontend && { npm ci $(NPM_FLAGS) 2>/dev/null || npm install --no-save $(NPM_FLAGS); }
	cd frontend && npm run build

# CI: the committed bundle must be exactly what the sources build (the build is deterministic).
frontend-check: frontend
	@changed="$$(git status --porcelain -- frontend/static/viewer frontend/package-lock.json)"; \
	if [ -n "$$changed" ]; then \
	  echo "$$changed"; \
	  echo "frontend/static/viewer is stale: run 'make frontend' and commit the result" >&2; \
	  exit 1; \
	fi

# Translators: refresh locale/*/LC_MESSAGES/*.po from the sources (needs GNU gettext), then
# translate the new entries; tests/test_translations.py fails while one has no translation.
MESSAGE_IGNORES := --ignore=.venv --ignore=frontend/node_modules --ignore=frontend/static/viewer \
	--ignore=var --ignore=tests --ignore=bench --ignore=docs --ignore=scripts
messages: venv
	DEBUG=1 $(PY) manage.py makemessages --all --no-location $(MESSAGE_IGNORES)
	DEBUG=1 $(PY) manage.py makemessages --all --no-location -d djangojs -e js -e ts $(MESSAGE_IGNORES)
	DEBUG=1 $(PY) manage.py compile_catalogues

clean:
	rm -rf var/test .pytest_cache .mypy_cache .ruff_cache
