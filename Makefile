# Two entry points for a fresh Debian 12 machine (as root): `make demo` and `make test`.
# Both install what is missing (Debian packages, .venv with gantry and its test extra) and are
# fast to re-run: each step is skipped when its stamp is newer than its inputs.

PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.gantry-installed
# What `make demo` needs (registries, image conversion, the podman engine, git)…
DEMO_PKGS := docker-registry skopeo podman git
# …and what only the tests add: chromium + chromium-driver (the HTML report's Selenium test),
# Prometheus' tools (promtool/amtool checks; the e2e alert test starts all three on 127.0.0.1).
# PostgreSQL (the webhook's two-replica store tests).
TEST_PKGS := postgresql chromium chromium-driver prometheus prometheus-alertmanager prometheus-pushgateway
DEB_PKGS  ?= $(DEMO_PKGS) $(TEST_PKGS)
# Go and the two libraries of the Trivy DB builder (examples/trivydb: the demo and the tests), built offline.
GO_DEB_PKGS := golang-go golang-github-coreos-bbolt-dev golang-gopkg-yaml.v3-dev
TRIVYDB_BIN := examples/trivydb/bin/trivydb
PYTEST_ARGS ?=
TF_CLI_CONFIG := $(VENV)/terraform.rc
CHECKOV_VENV  := .venv-checkov

.PHONY: demo test test-fast deps debs clean trivydb

# Bytecode is cached even where the caller's environment sets PYTHONDONTWRITEBYTECODE: the tests and
# the demo start hundreds of gantry processes, each of which would otherwise compile gantry again.
unexport PYTHONDONTWRITEBYTECODE

demo: DEB_PKGS := $(DEMO_PKGS)
demo: debs $(STAMP) $(TRIVYDB_BIN)
	$(BIN)/gantry demo

# The whole suite, as two pytest runs side by side: the tests marked `slow` (real Terraform
# plan/apply/destroy against moto, mostly waiting on the AWS provider's polls) beside all the
# others, so the suite fits its 10-minute budget on 2 cores. Each run has its own --basetemp;
# the slow run's report is printed after the other's; either one failing fails `make test`. The quick half
# runs on 2 pytest-xdist workers, one test module per worker (`--dist loadfile`: a module's
# fixtures and servers stay in one process): 9 min 37 s -> about 6 min on 2 cores. The slow half
# runs its modules on 2 workers too: the event lifecycle (mostly waiting on the AWS provider's
# polls) beside `infra check`'s Terraform and checkov runs, instead of after them.
# `make test-fast` runs only the quick half (what a developer runs while working).
test: deps
	$(BIN)/lint-imports --no-cache
	@tmp=$$(mktemp -d); \
	$(BIN)/python -m pytest -m slow -n 2 --dist loadfile --basetemp=$$tmp/slow $(PYTEST_ARGS) > $$tmp/slow.log 2>&1 & slow=$$!; \
	fast=0; $(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile --basetemp=$$tmp/fast $(PYTEST_ARGS) || fast=$$?; \
	rc=0; wait $$slow || rc=$$?; \
	echo "---------------- slow tests (run alongside) ----------------"; cat $$tmp/slow.log; rm -rf $$tmp; \
	if [ $$rc -eq 5 ]; then rc=0; fi; \
	if [ $$fast -ne 0 ]; then exit $$fast; fi; exit $$rc

test-fast: deps
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

deps: debs $(STAMP) node_modules/.bin/npm-groovy-lint tf-cli-config $(CHECKOV_VENV)/bin/checkov $(TRIVYDB_BIN)

# Install the Debian tools the demo and tests start (only those missing; apt-get needs root):
# DEB_PKGS (the demo's and the tests' tools); npm and Java for the Jenkinsfile lint (npm-groovy-lint);
# kubectl (built-in kustomize) renders every GitOps kustomize edit to check its effect.
debs:
	@missing=""; \
	for p in $(DEB_PKGS) $(GO_DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$$missing python3-venv python3-pip"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	command -v kubectl >/dev/null 2>&1 || missing="$$missing kubernetes-client"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# editable_mode=compat: the editable install is a plain .pth path entry, not setuptools' import
# hook, which cost every Python process of the venv ~12 ms of start-up (24 → 12 ms for `-c pass`).
$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel
	$(BIN)/python -m pip install -q -e '.[test,infra,load]' --config-settings editable_mode=compat
	touch $(STAMP)

# npm-groovy-lint (CodeNarc, needs only Java) validates the Jenkinsfile offline in the tests.
node_modules/.bin/npm-groovy-lint: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund && touch $@; \
	else echo "npm not found: the Jenkinsfile lint test will be skipped"; fi

# Terraform CLI config: a provider filesystem mirror found at run time (offline machines),
# else a plugin cache under .venv (machines with internet). Rewritten on every run (cheap).
.PHONY: tf-cli-config
tf-cli-config: $(STAMP)
	$(BIN)/gantry infra cli-config --output $(TF_CLI_CONFIG) --plugin-cache $(VENV)/terraform-plugin-cache

# The example Trivy DB builder (Go, Debian's bbolt and yaml.v3, no module download).
trivydb: $(TRIVYDB_BIN)
$(TRIVYDB_BIN): examples/trivydb/main.go
	cd examples/trivydb && GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= \
	  go build -o bin/trivydb .

# checkov in its own environment: it installs an `hcl2` package that overwrites python-hcl2.
$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q checkov

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules demo-out .pytest_cache examples/trivydb/bin
