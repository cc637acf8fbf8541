# segflow: the two commands are `make test` and `make demo` (README). GNU make, POSIX sh recipes;
# uv installs the Python side, npm the AsyncAPI CLI in tools/. The real parts (PostgreSQL, Kafka)
# are started and stopped by scripts/ (see DESIGN.md section 7).

SHELL := /bin/sh
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.segflow-synced
NPM_STAMP := tools/node_modules/.segflow-installed
TEST_DIRS := tests/unit tests/integration tests/e2e tests/browser
DOMAIN_PACKAGES = $(wildcard services/*/domain)

.PHONY: help install test lint lint-ruff lint-format lint-mypy lint-imports lint-compose lint-asyncapi lint-k8s lint-native \
        demo bench chaos clean

help:
	@echo "make install  create .venv (uv sync --frozen, building native/ with cargo) and tools/node_modules (npm ci)"
	@echo "make test     start PostgreSQL + Kafka, run $(TEST_DIRS), stop them"
	@echo "make lint     ruff, ruff format --check, mypy, import-linter, compose schema, asyncapi, cargo fmt + clippy"
	@echo "make demo     run all five services embedded on http://127.0.0.1:8000"
	@echo "make bench    run the benchmarks against real PostgreSQL + Kafka"
	@echo "make chaos    run tests/chaos against real PostgreSQL + Kafka"
	@echo "make clean    remove .cache/kafka/data, .cache/pg, .segflow"

install: $(PY_STAMP) $(NPM_STAMP)

# The compiled hot loops (native/, Rust): uv rebuilds them with cargo when these change (their cache-keys).
NATIVE_SOURCES := native/Cargo.toml native/Cargo.lock native/pyproject.toml native/segflow_native.pyi \
                  $(wildcard native/src/*.rs)

# Re-sync when the venv is missing or the lock or the native sources changed since the last sync.
$(PY_STAMP): uv.lock pyproject.toml $(NATIVE_SOURCES)
	@uv="$$(scripts/ensure-uv.sh)" && cargo_bin="$$(scripts/ensure-cargo.sh)" && \
	  PATH="$$cargo_bin:$$PATH" UV_PROJECT_ENVIRONMENT=$(VENV) "$$uv" sync --frozen
	@touch $@

$(NPM_STAMP): tools/package.json tools/package-lock.json
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test: install
	scripts/run-tests.sh

lint: lint-ruff lint-format lint-mypy lint-imports lint-compose lint-asyncapi lint-k8s lint-native

lint-ruff: $(PY_STAMP)
	$(VENV)/bin/ruff check .

lint-format: $(PY_STAMP)
	$(VENV)/bin/ruff format --check .

lint-mypy: $(PY_STAMP)
	$(VENV)/bin/mypy contracts $(DOMAIN_PACKAGES)

lint-imports: $(PY_STAMP)
	$(VENV)/bin/lint-imports

# docker-compose.yml against the Compose Specification schema vendored by check-jsonschema
# (no Docker needed), then the references and service promises (scripts/check_compose.py).
lint-compose: $(PY_STAMP)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(PY) scripts/check_compose.py docker-compose.yml

lint-asyncapi: $(NPM_STAMP)
	scripts/asyncapi-validate.sh

# The Rust of native/: formatting and clippy with warnings as errors (PyO3 reads the venv's interpreter).
lint-native: $(PY_STAMP)
	@PATH="$$(scripts/ensure-cargo.sh):$$PATH" && \
	  cargo fmt --manifest-path native/Cargo.toml --check && \
	  PYO3_PYTHON=$(CURDIR)/$(PY) cargo clippy --manifest-path native/Cargo.toml --release --locked --quiet -- -D warnings

demo: install
	$(VENV)/bin/segflow demo

bench: install
	scripts/with-testenv.sh $(PY) -m bench

chaos: install
	@if [ ! -d tests/chaos ]; then echo "make chaos: tests/chaos does not exist yet" >&2; exit 1; fi
	scripts/chaosenv.sh run $(PY) -m pytest -p no:cacheprovider tests/chaos

# deploy/k8s rendered (deploy/k8s/render.py, no kustomize binary needed) and validated offline against
# the Kubernetes schemas shipped by kubernetes-validate, installed into a private venv under .cache/.
K8S_LINT_VENV := .cache/k8s-lint
$(K8S_LINT_VENV)/.installed:
	python3 -m venv $(K8S_LINT_VENV)
	$(K8S_LINT_VENV)/bin/pip install -q --disable-pip-version-check kubernetes-validate==1.37.0 pyyaml
	@touch $@

lint-k8s: $(K8S_LINT_VENV)/.installed
	$(K8S_LINT_VENV)/bin/python deploy/k8s/render.py --validate deploy/k8s/overlays/dev deploy/k8s/overlays/prod

clean:
	-scripts/testenv.sh down
	-scripts/kafka.sh stop
	-scripts/pg.sh clean
	rm -rf .cache/kafka/data .cache/pg .segflow
