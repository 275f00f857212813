# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFORMANCE := ../shared/conformance

.PHONY: demo test install conformance bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet hatchling
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest
	$(BIN)/ratecard test examples/pricing-tests
	@if [ -d "$(CONFORMANCE)" ]; then \
	  $(CONFORMANCE)/run --cmd "$(CURDIR)/$(BIN)/ratecard" --pending tests/conformance-pending.txt; \
	else echo "no $(CONFORMANCE): conformance suite skipped"; fi

conformance: $(STAMP)
	$(CONFORMANCE)/run --cmd "$(CURDIR)/$(BIN)/ratecard"

bench: $(STAMP)
	$(BIN)/python benchmarks/compile.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .hypothesis
