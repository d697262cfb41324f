# The commands people type. Everything runs from .venv, created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
MPY    := $(BIN)/micropython
# The unix port finds our packages through MICROPYPATH (its sys.path).
MPYPATH := .frozen:firmware:.:tests/dual

.PHONY: all venv test pytest test-mpy mpy-check scenarios build run flash deploy config-new \
        config-validate config-show sim mem board-model image bench bench-latency portal clean

BOARD  ?= esp32-devkitc
CONFIG ?= config.json
# The board model (host_tools/board_model.py): MicroPython's source, a v1.29 checkout or a
# tarball of one; empty: ../shared/micropython/micropython-src.tar.gz when it exists.
MICROPYTHON_SRC ?=
MODEL_ENV := MICROPYTHON_SRC="$(MICROPYTHON_SRC)"
# MODEL=esp32: run on the board model; FROZEN=1: the model with the firmware frozen in
MODEL_ARGS = $(if $(MODEL),--model $(MODEL)) $(if $(FROZEN),--frozen)

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

# a bigger heap than the port's default: the tests' own fixtures (a 200 KB frame) need it whole;
# the firmware's memory is judged on the board model (make sim MODEL=esp32, make mem)
test-mpy: $(STAMP)
	MICROPYPATH=$(MPYPATH) $(MPY) -X heapsize=8M tests/dual/run.py

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

## make portal [STATE=.portal-state]: the firmware with no configuration, serving the setup
## portal on http://127.0.0.1:8080/; after the wizard it restarts with what was saved
## (kept in STATE; remove the folder to set up again); its wildcard DNS on UDP port 8053
portal: $(STAMP)
	DYNEVSE_DNS_PORT=8053 $(BIN)/python -m host_tools run --state $(or $(STATE),.portal-state) --listen 127.0.0.1:8080

## make flash PORT=/dev/ttyUSB0 FIRMWARE=ESP32_GENERIC-<date>-v1.29.0.bin [BOARD=...] [CONFIG=...] [DRY_RUN=1]
## make flash PORT=/dev/ttyUSB0 IMAGE=1 [BOARD=...]: our own image (make image) instead
flash: $(STAMP)
	$(BIN)/python -m host_tools flash $(if $(PORT),--port $(PORT)) --board $(BOARD) \
		$(if $(IMAGE),--image,$(if $(FIRMWARE),--firmware $(FIRMWARE))) $(if $(wildcard $(CONFIG)),--config $(CONFIG)) \
		$(if $(DRY_RUN),--dry-run)

## make deploy PORT=/dev/ttyUSB0 [BOARD=...] [CONFIG=...] [IMAGE=1] [DRY_RUN=1]: code and configuration only
deploy: $(STAMP)
	$(BIN)/python -m host_tools deploy $(if $(PORT),--port $(PORT)) --board $(BOARD) $(if $(IMAGE),--image) \
		$(if $(wildcard $(CONFIG)),--config $(CONFIG)) $(if $(DRY_RUN),--dry-run)

## make image BOARD=esp32-devkitc [DRY_RUN=1]: our ESP32 image with the firmware frozen in
## (boards/manifest.py); needs ESP-IDF (IDF_PATH) and MICROPYTHON_SRC=<full MicroPython checkout>
image: $(STAMP)
	$(BIN)/python -m host_tools image --board $(BOARD) $(if $(DRY_RUN),--dry-run)

## make board-model [FROZEN=1] [MICROPYTHON_SRC=...]: the 32-bit unix port that models the
## board's heap, in build/board-model (built once); FROZEN=1: also the one with the firmware
## frozen in
board-model: $(STAMP)
	$(MODEL_ENV) $(BIN)/python -m host_tools board-model $(if $(FROZEN),--frozen)

## make config-new [CONFIG=config.json] [FORCE=1] [ANSWERS=answers.json]: answer what the
## site needs, get config.json (FORCE: replace an existing one; ANSWERS: from a file)
config-new: $(STAMP)
	$(BIN)/python -m host_tools config new --out $(CONFIG) $(if $(ANSWERS),--answers $(ANSWERS),--ask) \
		$(if $(FORCE),--force)

config-validate: $(STAMP)
	$(BIN)/python -m host_tools config validate $(CONFIG)

config-show: $(STAMP)
	$(BIN)/python -m host_tools config show --help-text $(CONFIG)

## make sim [DURATION=60] [HEAP_KB=256] [CHARGERS=2] [MODEL=esp32 [FROZEN=1]] [CODE_IN_ROM=1]:
## the whole product on this PC (MODEL=esp32: on the 32-bit board model; FROZEN=1: with the
## firmware frozen in; CODE_IN_ROM: the bytecode run in place from a ROMFS image)
sim: $(STAMP)
	$(MODEL_ENV) $(BIN)/python -m host_tools sim $(if $(DURATION),--duration $(DURATION)) \
		$(if $(HEAP_KB),--heap-kb $(HEAP_KB)) $(if $(CHARGERS),--chargers $(CHARGERS)) $(MODEL_ARGS) \
		$(if $(CODE_IN_ROM),--code-in-rom)

## make mem [MODEL=esp32 [FROZEN=1]]: what each firmware module costs in heap
mem: $(STAMP)
	$(MODEL_ENV) $(BIN)/python tests/bench/mem_report.py $(MODEL_ARGS)

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
