# The two Quick start commands: `make run` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB_MODULES := web/node_modules/.package-lock.json
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) \
	web/index.html web/vite.config.ts web/tsconfig.json web/package.json

.PHONY: run test lint pytest dockertest webtest web clean

# sfu/_rtp_batch.c: the native sender is built by the install (pyproject.toml ext-modules).
$(STAMP): pyproject.toml sfu/_rtp_batch.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(WEB_MODULES): web/package-lock.json
	@command -v npm >/dev/null || { echo "make: npm is missing: apt-get install nodejs npm (see README)"; exit 1; }
	cd web && npm ci --no-fund --no-audit

# Rebuilt only when a source is newer than the last build.
web/dist/index.html: $(WEB_MODULES) $(WEB_SOURCES)
	cd web && npm run build

web: web/dist/index.html

run: $(STAMP) web
	$(BIN)/gethory

test: $(STAMP) web lint webtest pytest dockertest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

webtest: $(WEB_MODULES)
	cd web && npx vitest run

pytest: $(STAMP) web
	scripts/isolated $(BIN)/pytest --ignore=tests/docker

# Outside scripts/isolated: `docker build --network host` needs PyPI, npm and Debian's mirror,
# and host-network containers share the daemon's namespace, which must be the tests' own.
# The tests keep their traffic on 127.0.0.1 themselves (tests/docker/conftest.py). They start
# dockerd (Debian's docker.io) and stop it again; they need root, docker.io, docker-compose and
# mmdebstrap (.ci/run installs them).
dockertest: $(STAMP)
	$(BIN)/pytest tests/docker

# gethory-bench (benchmarks/README.md): `bench` is a smoke fanout of under 3 minutes; `bench-full`
# the whole sweep (about half an hour on 2 cores). Results and PNGs go to bench-results/.
.PHONY: bench bench-full
bench: $(STAMP)
	$(BIN)/python -m benchmarks --scenario fanout --speakers 1 --listeners 40 --duration 20 --out bench-results

bench-full: $(STAMP)
	$(BIN)/python -m benchmarks --scenario fanout --listeners 100 --duration 30 --out bench-results
	$(BIN)/python -m benchmarks --scenario fanout --speakers 3 --listeners 100 --duration 30 --out bench-results
	$(BIN)/python -m benchmarks --scenario rooms --rooms 20 --room-size 5 --duration 30 --out bench-results
	$(BIN)/python -m benchmarks --scenario join-storm --out bench-results
	$(BIN)/python -m benchmarks --scenario churn --out bench-results
	$(BIN)/python -m benchmarks --scenario mesh-vs-sfu --out bench-results
	$(BIN)/python -m benchmarks --scenario large-room --listeners 1000 --out bench-results
	$(BIN)/python -m benchmarks report bench-results

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache web/node_modules web/dist
