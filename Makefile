# The commands people type. Everything runs from .venv, created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
MPY    := $(BIN)/micropython
# The unix port finds our packages through MICROPYPATH (its sys.path).
MPYPATH := .frozen:firmware:.:tests/dual

.PHONY: all venv test pytest test-mpy mpy-check scenarios build run flash deploy config-new \
        config-validate config-show sim mem bench bench-latency clean

BOARD  ?= esp32-devkitc
CONFIG ?= config.json

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

## make build BOARD=esp32-devkitc: the .mpy tree for a board in build/<board>, with sizes
build: $(STAMP)
	$(BIN)/python -m host_tools build --board $(BOARD)

## make run CONFIG=config.json [LISTEN=[HOST][:PORT]]: the unmodified firmware under the
## MicroPython unix port (127.0.0.1 and a free port unless LISTEN or web.port says otherwise)
run: $(STAMP)
	$(BIN)/python -m host_tools run --config $(CONFIG) $(if $(HEAP_KB),--heap-kb $(HEAP_KB)) \
		$(if $(LISTEN),--listen $(LISTEN))

## make flash PORT=/dev/ttyUSB0 FIRMWARE=ESP32_GENERIC-<date>-v1.29.0.bin [BOARD=...] [CONFIG=...] [DRY_RUN=1]
flash: $(STAMP)
	$(BIN)/python -m host_tools flash $(if $(PORT),--port $(PORT)) --board $(BOARD) \
		$(if $(FIRMWARE),--firmware $(FIRMWARE)) $(if $(wildcard $(CONFIG)),--config $(CONFIG)) \
		$(if $(DRY_RUN),--dry-run)

## make deploy PORT=/dev/ttyUSB0 [BOARD=...] [CONFIG=...] [DRY_RUN=1]: code and configuration only
deploy: $(STAMP)
	$(BIN)/python -m host_tools deploy $(if $(PORT),--port $(PORT)) --board $(BOARD) \
		$(if $(wildcard $(CONFIG)),--config $(CONFIG)) $(if $(DRY_RUN),--dry-run)

## make config-new [CONFIG=config.json] [FORCE=1] [ANSWERS=answers.json]: answer what the
## site needs, get config.json (FORCE: replace an existing one; ANSWERS: from a file)
config-new: $(STAMP)
	$(BIN)/python -m host_tools config new --out $(CONFIG) $(if $(ANSWERS),--answers $(ANSWERS),--ask) \
		$(if $(FORCE),--force)

config-validate: $(STAMP)
	$(BIN)/python -m host_tools config validate $(CONFIG)

config-show: $(STAMP)
	$(BIN)/python -m host_tools config show --help-text $(CONFIG)

## make sim [DURATION=60] [HEAP_KB=256] [CODE_IN_ROM=1]: the whole product on this PC
## (CODE_IN_ROM: measure it with the bytecode run in place from a ROMFS image)
sim: $(STAMP)
	$(BIN)/python -m host_tools sim $(if $(DURATION),--duration $(DURATION)) $(if $(HEAP_KB),--heap-kb $(HEAP_KB)) $(if $(CODE_IN_ROM),--code-in-rom)

## make mem: what each firmware module costs in heap (MicroPython unix port)
mem: $(STAMP)
	$(BIN)/python tests/bench/mem_report.py

## make bench [ONLY=solar] [QUICK=1]: whole days of lagging cars and late meters, the
## regulator against an ideal controller; prints the table of docs/regulation.md
bench: $(STAMP)
	$(BIN)/python tests/bench/day_bench.py --markdown $(if $(ONLY),--only $(ONLY)) $(if $(QUICK),--quick)

clean:
	rm -rf build .pytest_cache

## make bench-latency: from an over-limit MQTT grid sample to the reduced profile on the
## wire, 20 steps at the default cycle on the unix port (prints numbers; a few minutes)
bench-latency: $(STAMP)
	$(BIN)/python tests/bench/overload_latency.py
