# The commands people type. Everything runs from .venv, created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
MPY    := $(BIN)/micropython
# The unix port finds our packages through MICROPYPATH (its sys.path).
MPYPATH := .frozen:firmware:.:tests/dual

.PHONY: all venv test pytest test-mpy mpy-check scenarios clean

all: test

venv: $(STAMP)

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed, found " + sys.version' 
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

## make test: everything CI checks (pytest on CPython, the same vectors on MicroPython,
## mpy-cross over every firmware file, the scenarios on both runtimes)
test: pytest test-mpy mpy-check scenarios

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

test-mpy: $(STAMP)
	MICROPYPATH=$(MPYPATH) $(MPY) tests/dual/run.py

mpy-check: $(STAMP)
	$(BIN)/python tests/mpy_check.py

## make scenarios: the closed-loop scenarios on CPython and on the MicroPython unix port
scenarios: $(STAMP)
	$(BIN)/python tests/run_scenarios.py

clean:
	rm -rf build .pytest_cache
