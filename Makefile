# The README's two commands: `make demo` and `make test`. Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= udip_demo

.PHONY: install demo test clean

$(BIN)/.installed: pyproject.toml constraints.txt scripts/ensure_java.sh scripts/ensure_blas.sh
	bash scripts/ensure_java.sh
	bash scripts/ensure_blas.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/udip-gwas demo --out $(DEMO_OUT)

test: $(BIN)/.installed
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
