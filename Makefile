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
PYTEST_ARGS ?=
TF_CLI_CONFIG := $(VENV)/terraform.rc
CHECKOV_VENV  := .venv-checkov

.PHONY: demo test deps debs clean

demo: DEB_PKGS := $(DEMO_PKGS)
demo: debs $(STAMP)
	$(BIN)/gantry demo

test: deps
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest $(PYTEST_ARGS)

deps: debs $(STAMP) node_modules/.bin/npm-groovy-lint tf-cli-config $(CHECKOV_VENV)/bin/checkov

# Install the Debian tools the demo and tests start (only those missing; apt-get needs root):
# DEB_PKGS (the demo's and the tests' tools); npm and Java for the Jenkinsfile lint (npm-groovy-lint);
# kubectl (built-in kustomize) renders every GitOps kustomize edit to check its effect.
debs:
	@missing=""; \
	for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$$missing python3-venv python3-pip"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	command -v kubectl >/dev/null 2>&1 || missing="$$missing kubernetes-client"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel
	$(BIN)/python -m pip install -q -e '.[test]'
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

# checkov in its own environment: it installs an `hcl2` package that overwrites python-hcl2.
$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q checkov

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules demo-out .pytest_cache
