# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFORMANCE := ../shared/conformance
CONFORMANCE_NEXT := ../shared/conformance-next

.PHONY: demo test test-conformance install browser conformance bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# An editable install writes ratecard's bytecode on first import, unless
# PYTHONDONTWRITEBYTECODE is set (CI machines set it): then every `ratecard` process
# (the conformance suite starts hundreds) compiled the sources again. compileall
# writes it once, as installing a wheel does; a source edited later is compiled
# again in memory, as Python does for a stale .pyc.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet hatchling
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q src/ratecard > /dev/null
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

# The HTML invoice tests open the invoices in headless Chromium (Debian's `chromium`);
# without one they are skipped (a failure under CI), so installing it is best effort.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  (export DEBIAN_FRONTEND=noninteractive; \
	   apt-get install -y -q chromium >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1) || \
	   sudo -n apt-get install -y -q chromium >/dev/null 2>&1 || \
	   echo "chromium could not be installed: the browser tests will be skipped (a failure under CI)")

# -rs prints why each skipped test was skipped. Under CI (RATECARD_CI=1, set by
# .ci/run) a skip is a failure (tests/conftest.py), and so is a missing conformance suite.
# pytest-xdist runs the tests on TEST_WORKERS processes (CI has 2 cores); the Spark
# tests run in two groups, each in one process with its own local session
# (docs/testing.md). TEST_WORKERS=0 runs them all in this process.
TEST_WORKERS ?= 2
test: $(STAMP) browser
	$(BIN)/python -m pytest -rs -n $(TEST_WORKERS) --dist loadgroup
	$(BIN)/ratecard test examples/pricing-tests
	$(BIN)/ratecard test examples/effective-dates
	$(BIN)/ratecard test examples/llm-api
	$(BIN)/ratecard test examples/saas-platform
	$(BIN)/ratecard test examples/object-storage
	@$(MAKE) --no-print-directory test-conformance

test-conformance:
	@if [ -d "$(CONFORMANCE)" ]; then \
	  $(CONFORMANCE)/run --cmd "$(CURDIR)/$(BIN)/ratecard" --pending tests/conformance-pending.txt; \
	elif [ -n "$$RATECARD_CI" ] && [ "$$RATECARD_CI" != 0 ]; then \
	  echo "no $(CONFORMANCE): the conformance suite is missing under CI, which is a failure" >&2; exit 1; \
	else echo "no $(CONFORMANCE): conformance suite skipped"; fi
	@if [ -d "$(CONFORMANCE_NEXT)" ] && [ -d "$(CONFORMANCE)" ]; then \
	  $(CONFORMANCE)/run --cmd "$(CURDIR)/$(BIN)/ratecard" --pending tests/conformance-next-pending.txt $(CONFORMANCE_NEXT); \
	fi

conformance: $(STAMP)
	$(CONFORMANCE)/run --cmd "$(CURDIR)/$(BIN)/ratecard"

# Figures go to benchmarks/results.json. The usage benchmark generates its data
# (1M events, ~300 MB) under benchmarks/data/ on first use; 10M: EVENTS=10000000.
EVENTS ?= 1000000
bench: $(STAMP)
	$(BIN)/python benchmarks/compile.py
	$(BIN)/python benchmarks/run.py --events $(EVENTS)

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis
