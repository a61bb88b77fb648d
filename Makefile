# Thin wrapper: bootstrap .venv, then call the dlcourse command line (all logic lives there).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROXY := $(VENV)/hub-proxy/node_modules/.bin/configurable-http-proxy

.PHONY: lab test course check grade doctor hub clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/dlcourse lab

# JupyterHub's proxy, from the npm registry (online, once; the version that fits the Node.js found).
# Without Node.js and npm it prints why and the class-server test skips with that reason.
$(PROXY): | $(STAMP)
	-$(BIN)/dlcourse hub --install-proxy

test: $(STAMP) $(PROXY)
	$(BIN)/dlcourse test

course: $(STAMP)
	$(BIN)/dlcourse build

check: $(STAMP)
	$(BIN)/dlcourse check

grade: $(STAMP)
	$(BIN)/dlcourse grade --workers 2

hub: $(STAMP) $(PROXY)
	$(BIN)/dlcourse hub

doctor: $(STAMP)
	$(BIN)/dlcourse doctor

clean:
	rm -rf $(VENV) autograded feedback gradebook.db grades.csv test-artifacts
