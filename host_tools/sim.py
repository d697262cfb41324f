"""The whole product on one PC: firmware, broker, chargers with cars, and a house.

    python -m host_tools.sim                  # live table until Ctrl-C
    python -m host_tools.sim --duration 60    # no table; one summary line, exit code
    python -m host_tools.sim --model esp32 --frozen --chargers 4 --heap-kb 96 --duration 300

What runs, all real: a private MQTT broker (host_tools.broker); the unmodified firmware
under the MicroPython unix port (host_tools.run, built for the unix-sim board) with the
configuration ``sim_config()`` writes; OCPP 1.6J charge points (two unless ``--chargers``
says otherwise) built on the PyPI ``ocpp`` library (host_tools.sim_charger) whose cars
follow the limits the firmware sends; and the site physics of host_tools.site_model
(household, PV, home battery, grid), published every second over MQTT as a smart meter
and an inverter would.

The summary line (``--duration``)::

    sim: chargers=2 profiles=14 energy_kwh=0.153 max_phase_a=22.9 breaker_a=25

profiles: SetChargingProfile CALLs the simulated chargers received; energy_kwh: what the
cars drew; max_phase_a: the highest grid import of any phase over the run (the physics'
truth, sampled every PHYSICS_S). Details per charger, the time spent above the breaker
and the firmware's heap in use and peak go to stderr. Ctrl-C (SIGINT) or SIGTERM ends the
run early with its summary and exit 0, or 130 if by then it had failed (breaker, firmware).

Exit codes (the worst that happened; a breaker excess outranks a firmware failure, so
a firmware that fails *and* overloads a phase is reported as the overload):

    0  every phase stayed at or under the breaker, the firmware stayed up without a
       MemoryError, and charging profiles arrived
    1  EXIT_BREAKER: a phase went above the breaker
    2  EXIT_USAGE: a bad option, or the board model cannot be built (says what is missing)
    3  EXIT_FIRMWARE: the firmware did not start, died, or ran out of memory
    4  EXIT_NO_PROFILE: no charging profile ever arrived
    130  interrupted (Ctrl-C) after a failure, or before the run started

``--heap-kb N`` gives the firmware a heap of N KB. ``--model esp32`` runs it on the
board model, the 32-bit unix port (host_tools.board_model, built on first use), whose
heap reads as the ESP32's; with ``--frozen`` on the model with the firmware frozen in, the
stand-in for our ESP32 image. ``--chargers N`` (1-8) simulates a site with N chargers,
the breaker sized for them (``breaker_for``). ``--code-in-rom`` runs the firmware with
its bytecode in place from a ROMFS image (host_tools.run explains how the image is kept
out of the count).
"""
import argparse
import asyncio
import collections
import json
import logging
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
import time

from host_tools import broker as broker_mod
from host_tools.broker import free_port
from host_tools.sim_charger import SimCharger
from host_tools.site_model import SiteModel

PHYSICS_S = 0.25          # physics step: fine enough that a peak lasting one step is seen
PUBLISH_S = 1.0           # the meter and the inverter publish once a second
TABLE_S = 1.0
FIRMWARE_START_TIMEOUT_S = 60
MQTT_TIMEOUT_S = 10
VOLTAGE_V = 230

# The exit code says the worst thing that happened, in this order: a breaker excess
# outranks everything (it is what the product must never do, also while the firmware is
# failing), then a firmware failure, then a run in which no profile arrived.
EXIT_OK = 0
EXIT_BREAKER = 1          # a phase went above the breaker (whatever else went wrong too)
EXIT_USAGE = 2            # a bad option, or the board model cannot be built (what is missing)
EXIT_FIRMWARE = 3         # the firmware did not start, died or ran out of memory
EXIT_NO_PROFILE = 4       # no charging profile ever arrived
EXIT_INTERRUPTED = 130    # Ctrl-C, and the run had failed by then (else 0)
EXIT_CODES_HELP = """exit codes (the worst that happened; a breaker excess outranks the rest):
  0  every phase stayed at or under the breaker, the firmware stayed up without a
     MemoryError, and charging profiles arrived
  1  a phase went above the breaker (also when the firmware failed as well)
  2  a bad option, or the board model cannot be built (the message says what is missing)
  3  the firmware did not start, died, or ran out of memory (MemoryError)
  4  no charging profile ever arrived
  130  interrupted (Ctrl-C) after a failure, or before the run started"""

# ---- the site ---------------------------------------------------------------------
#
# Why these numbers. The breaker is 25 A per phase and the firmware keeps a 2 A margin,
# so it plans to 23 A. Two cars at up to 16 A each on three phases want 32 A per phase:
# whenever both are plugged in, the breaker is what limits them (the product visibly
# shares 23 A minus the house), and while only one is plugged in (16 A + house < 23 A) it
# is not. The control loop answers a change of the house only at its next cycle, so
# until then the grid carries the step on top of what was planned: every household step
# is at most HOUSE_STEP_A (1.5 A, inside the 2 A margin, leaving 0.5 A for the slow PV
# drift and meter rounding), and steps are at least STEP_SPACING_S apart (two control
# cycles plus a meter period), so two steps never pile up before the loop has answered
# the first. Bigger loads (the heat pump) come in as several such steps, as an inverter
# compressor ramps. The battery's discharge (1200 W = 1.7 A per phase) is below the
# margin too, so even its stop at the reserve SOC is a step the margin covers; with
# 10 kWh at 60 % it takes hours to get there.

SITE = {"phases": 3, "voltage_v": VOLTAGE_V, "breaker_a": 25, "breaker_margin_a": 2,
        "mode": "standard", "distribution": "shared",
        "battery": {"soc_min": 20, "soc_target": 80, "max_charge_w": 2500, "max_discharge_w": 1200}}
BATTERY_WORLD = {"battery_soc": 60.0, "battery_capacity_wh": 10000, "battery_reserve_soc": 20}
HOUSE_BASE_A = (2.5, 2.0, 3.0)          # fridge, router, standby, lights: per phase
HOUSE_STEP_A = 1.5
SOLAR_W = 2000.0                        # a morning PV yield, drifting slowly (clouds)
SOLAR_SWING_W = 500.0
SOLAR_PERIOD_S = 300.0
DEFAULT_CHARGERS = 2
MAX_CHARGERS = 8
CHARGER = {"min_a": 6, "max_a": 16, "phases": 3}
CAR = {"max_a": 16.0, "phases": 3, "ramp_a_s": 3.0}
FALLBACK_A = 6                          # the firmware's default regulation.fallback_a
# Main breakers as they are sold (A per phase); a site with more chargers has a bigger one.
BREAKER_SIZES_A = (25, 32, 40, 50, 63, 80)
SLOTS_PER_PERIOD = 16
# (slot, [delta A on L1, L2, L3], what): at most one step per slot, each within HOUSE_STEP_A
HOUSE_EVENTS = (
    (2, [1.5, 1.5, 1.5], "heat pump starts"),
    (3, [1.5, 1.5, 1.5], "heat pump ramps up"),
    (4, [1.5, 1.5, 1.5], "heat pump at full power"),
    (5, [1.5, 0.0, 0.0], "dishwasher heats"),
    (6, [0.0, 1.2, 0.0], "washing machine"),
    (8, [-1.5, 0.0, 0.0], "dishwasher done"),
    (9, [0.0, 0.0, 1.0], "oven"),
    (10, [-1.5, -1.5, -1.5], "heat pump ramps down"),
    (11, [-1.5, -1.5, -1.5], "heat pump ramps down"),
    (12, [-1.5, -1.5, -1.5], "heat pump off"),
    (13, [0.0, -1.2, 0.0], "washing machine done"),
    (15, [0.0, 0.0, -1.0], "oven off"),
)
CP2_PLUG_S = 6.0            # the second car arrives a little after the first
CP2_LEAVES_SLOT = 14        # ... and leaves near the end of every period, to come back
PLUG_SPACING_S = 6.0        # with more chargers, car k (from 0) arrives k x this after the first


def house_peak_a():
    """The household's highest load on any phase over a period (8.5 A: heat pump,
    dishwasher or oven on top of the base load)."""
    load = list(HOUSE_BASE_A)
    peak = max(load)
    for _slot, delta, _what in HOUSE_EVENTS:
        load = [load[k] + delta[k] for k in range(3)]
        peak = max(peak, max(load))
    return peak


# ---- a site with N chargers ----------------------------------------------------------
#
# Every charger is a 3-phase 6-16 A wallbox with a 16 A car, so each of them loads every
# phase. The breaker is the smallest one sold for which
#
#   (1) the configuration check passes: fallback_a x chargers <= breaker - margin (the
#       firmware refuses a site whose chargers, all on their fallback profile, would
#       overload a phase with nothing else drawing);
#   (2) the site stays under its breaker with every charger on its fallback profile and
#       the house at its peak: fallback_a x chargers + house_peak_a() <= breaker. That is
#       the state a firmware that cannot reach its chargers (out of memory, restarting)
#       falls back to, so a breaker excess in the sim is the firmware's doing, never the
#       site's design.
#
# 2 chargers: 12 A (<= 23) and 12 + 8.5 = 20.5 A (<= 25): the 25 A site above, unchanged.
# 4 chargers: 24 A needs >= 26 A for (1); 24 + 8.5 = 32.5 A needs 40 A for (2): 40 A, the
# firmware plans to 38 A. With 2 or more chargers the cars want 16 A x N > breaker - margin:
# the breaker is what limits them, so sharing is always visible.

def breaker_for(n_chargers):
    """The main breaker (A per phase) of the simulated site with ``n_chargers``."""
    need = FALLBACK_A * n_chargers
    for size in BREAKER_SIZES_A:
        if need <= size - SITE["breaker_margin_a"] and need + house_peak_a() <= size:
            return size
    raise ValueError("no breaker in %s fits %d chargers" % (BREAKER_SIZES_A, n_chargers))


def site_for(n_chargers):
    """The site settings (config.json "site") with ``n_chargers`` chargers."""
    site = json.loads(json.dumps(SITE))
    site["breaker_a"] = breaker_for(n_chargers)
    return site


def chargers_for(n_chargers):
    """The chargers' settings, cp1..cpN."""
    return [dict(CHARGER, id="cp%d" % (i + 1)) for i in range(n_chargers)]


def step_spacing_s(cycle_s):
    """Seconds between two household steps: two control cycles and a meter period."""
    return max(12.0, 2 * cycle_s + 2)


class Household:
    """The house's load per phase and the PV yield as functions of time since the start."""

    def __init__(self, cycle_s):
        self.spacing_s = step_spacing_s(cycle_s)
        self.period_s = self.spacing_s * SLOTS_PER_PERIOD
        for _slot, delta, what in HOUSE_EVENTS:
            assert max(abs(d) for d in delta) <= HOUSE_STEP_A, what

    def load_a(self, t_s):
        """Per phase, and the last event's name."""
        slot = int((t_s % self.period_s) // self.spacing_s)
        load = list(HOUSE_BASE_A)
        last = "base load"
        for s, delta, what in HOUSE_EVENTS:
            if s <= slot:
                load = [load[k] + delta[k] for k in range(3)]
                last = what
        return load, last

    def solar_w(self, t_s):
        return SOLAR_W + SOLAR_SWING_W * math.sin(2 * math.pi * t_s / SOLAR_PERIOD_S)

    def cp2_plugged(self, t_s):
        in_period = t_s % self.period_s
        return CP2_PLUG_S <= in_period < CP2_LEAVES_SLOT * self.spacing_s

    def plugged(self, k, t_s):
        """Whether charger ``k`` (0 = cp1) has its car plugged in: cp1 from the start, cp2
        comes and goes every period, cp3 and on arrive ``PLUG_SPACING_S`` apart and stay."""
        if k == 0:
            return True
        if k == 1:
            return self.cp2_plugged(t_s)
        return t_s >= k * PLUG_SPACING_S


# ---- the firmware's configuration -------------------------------------------------

METER_TOPIC = "sim/meter"
SOLAR_TOPIC = "sim/solar"
BATTERY_TOPIC = "sim/battery"


def sim_config(web_port, mqtt_port, cycle_s=5, n_chargers=DEFAULT_CHARGERS):
    """The firmware configuration of the simulated site (config.json)."""
    return {
        "device": {"id": "sim", "name": "Simulated panel"},
        "control": {"cycle_s": cycle_s, "grid_source": "mqtt"},
        "web": {"port": web_port},
        "site": site_for(n_chargers),
        "chargers": chargers_for(n_chargers),
        "ocpp": {"meter_sample_interval_s": 5},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "inputs": {
            "grid_l1": {"topic": METER_TOPIC, "field": "l1_a", "unit": "A"},
            "grid_l2": {"topic": METER_TOPIC, "field": "l2_a", "unit": "A"},
            "grid_l3": {"topic": METER_TOPIC, "field": "l3_a", "unit": "A"},
            "solar": {"topic": SOLAR_TOPIC, "unit": "W"},
            "battery_soc": {"topic": BATTERY_TOPIC, "field": "soc", "unit": "%"},
            "battery_power": {"topic": BATTERY_TOPIC, "field": "power_w", "unit": "W"},
        }},
    }


def meter_messages(model):
    """(topic, payload bytes) as the smart meter and the inverter publish them."""
    g = model.grid_a
    meter = {"l1_a": round(g[0], 2), "l2_a": round(g[1], 2), "l3_a": round(g[2], 2)}
    out = [(METER_TOPIC, json.dumps(meter)), (SOLAR_TOPIC, "%.0f" % model.solar_w)]
    if model.has_battery:
        out.append((BATTERY_TOPIC, json.dumps({"soc": round(model.soc, 1), "power_w": round(model.battery_w)})))
    return [(t, p.encode()) for t, p in out]


# ---- the run ------------------------------------------------------------------------

class Report:
    """What a run saw; ``summary()`` is the one line the simulator ends with."""

    def __init__(self, breaker_a):
        self.breaker_a = breaker_a
        self.max_phase_a = 0.0
        self.max_phase_at_s = 0.0
        self.max_per_phase_a = [0.0, 0.0, 0.0]
        self.over_breaker_s = 0.0       # time spent above the breaker
        self.firmware_died = False
        self.firmware_error = ""
        self.chargers = []
        self.elapsed_s = 0.0
        self.interrupted = False
        self.memory_errors = 0

    def profiles(self):
        return sum(c.profiles_received for c in self.chargers)

    def energy_kwh(self):
        return sum(c.energy_wh for c in self.chargers) / 1000.0

    def summary(self):
        return "sim: chargers=%d profiles=%d energy_kwh=%.3f max_phase_a=%.2f breaker_a=%g" % (
            len(self.chargers), self.profiles(), self.energy_kwh(), self.max_phase_a, self.breaker_a)

    def details(self):
        """Lines for stderr: per charger, and why the run failed if it did."""
        out = ["sim: %s profiles=%d accepted=%d energy_kwh=%.3f status=%s connects=%d" % (
            c.id, c.profiles_received, c.profiles_accepted, c.energy_wh / 1000.0, c.status, c.connects)
            for c in self.chargers]
        out.append("sim: ran %.1f s%s; max phase %.2f A at %.1f s; above the breaker %.2f s"
                   % (self.elapsed_s, " (stopped by Ctrl-C)" if self.interrupted else "", self.max_phase_a,
                      self.max_phase_at_s, self.over_breaker_s))
        if self.firmware_died:
            out.append("sim: the firmware stopped: %s" % self.firmware_error)
        if self.memory_errors:
            out.append("sim: the firmware ran out of memory %d time(s)" % self.memory_errors)
        return out

    def exit_code(self):
        if self.interrupted:
            # Ctrl-C ends a run early: that is no failure, only what went wrong until then is
            failed = self.firmware_died or self.memory_errors or self.max_phase_a > self.breaker_a
            return EXIT_INTERRUPTED if failed else EXIT_OK
        if self.max_phase_a > self.breaker_a:
            return EXIT_BREAKER
        if self.firmware_died or self.memory_errors:
            return EXIT_FIRMWARE
        if self.profiles() == 0:
            return EXIT_NO_PROFILE
        return EXIT_OK


class _LogRing(logging.Handler):
    """Warnings of the libraries (ocpp, amqtt), kept for the table instead of the terminal."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = collections.deque(maxlen=20)

    def emit(self, record):
        try:
            self.lines.append("%s: %s" % (record.name, record.getMessage()))
        except Exception:
            pass


def _quiet_libraries():
    ring = _LogRing()
    for name in ("ocpp", "amqtt", "websockets", "transitions"):
        lg = logging.getLogger(name)
        lg.setLevel(logging.WARNING)
        lg.addHandler(ring)
        lg.propagate = False
    return ring


def _port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


class Simulation:
    def __init__(self, firmware, web_port, mqtt_port, cycle_s, duration_s, table, log_ring,
                 n_chargers=DEFAULT_CHARGERS):
        self.fw = firmware
        self.web_port = web_port
        self.mqtt_port = mqtt_port
        self.cycle_s = cycle_s
        self.duration_s = duration_s
        self.table = table
        self.log_ring = log_ring
        self.house = Household(cycle_s)
        world = dict(BATTERY_WORLD, household_a=list(HOUSE_BASE_A), solar_w=SOLAR_W)
        self.site = site_for(n_chargers)
        chargers = chargers_for(n_chargers)
        self.model = SiteModel(world, self.site, [dict(c, car=dict(CAR)) for c in chargers])
        self.chargers = [SimCharger(c["id"], "ws://127.0.0.1:%d/ocpp/%s" % (web_port, c["id"]),
                                    self.model.cars[i], max_a=c["max_a"], voltage_v=VOLTAGE_V)
                         for i, c in enumerate(chargers)]
        self.report = Report(self.site["breaker_a"])
        self.report.chargers = self.chargers
        self.stop = asyncio.Event()
        self.t0 = None
        self.house_event = ""
        self.mqtt = None
        self.mqtt_error = ""

    def elapsed_s(self):
        return time.monotonic() - self.t0

    async def run(self):
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._interrupt)
        try:
            await self._wait_firmware()
            await self._connect_mqtt()
            self.t0 = time.monotonic()
            self.chargers[0].plug()
            tasks = [asyncio.create_task(c.run(self.stop)) for c in self.chargers]
            tasks.append(asyncio.create_task(self._physics()))
            tasks.append(asyncio.create_task(self._publish()))
            tasks.append(asyncio.create_task(self._watch()))
            if self.table:
                tasks.append(asyncio.create_task(self._show()))
            if self.duration_s:
                try:
                    await asyncio.wait_for(self.stop.wait(), self.duration_s)
                except asyncio.TimeoutError:
                    pass
            else:
                await self.stop.wait()
            self.stop.set()
            self.report.elapsed_s = self.elapsed_s()
            self.report.memory_errors = self.fw.memory_errors
            # the chargers close their websockets themselves; the rest just ends
            done, pending = await asyncio.wait(tasks, timeout=10)
            for t in pending:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            if self.mqtt is not None:
                try:
                    await asyncio.wait_for(self.mqtt.disconnect(), 5)
                except Exception:
                    pass
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return self.report

    def _interrupt(self):
        self.report.interrupted = True
        self.stop.set()

    def _firmware_failed(self, why):
        self.report.firmware_died = True
        tail = list(self.fw.lines)[-15:]
        self.report.firmware_error = why + ("; its last lines:\n  " + "\n  ".join(tail) if tail else "")
        self.stop.set()

    async def _wait_firmware(self):
        """Until the firmware's OCPP server accepts connections."""
        deadline = time.monotonic() + FIRMWARE_START_TIMEOUT_S
        while not _port_open(self.web_port):
            if not self.fw.alive():
                self._firmware_failed("it exited at start with code %s" % self.fw.proc.returncode)
                raise _Abort()
            if self.report.interrupted:
                raise _Abort()
            if time.monotonic() > deadline or self.stop.is_set():
                self._firmware_failed("its OCPP server did not listen on port %d within %d s"
                                      % (self.web_port, FIRMWARE_START_TIMEOUT_S))
                raise _Abort()
            await asyncio.sleep(0.1)

    async def _connect_mqtt(self):
        from amqtt.client import MQTTClient
        self.mqtt = MQTTClient(client_id="dynevse-sim-meter", config={"auto_reconnect": True})
        await asyncio.wait_for(self.mqtt.connect("mqtt://127.0.0.1:%d/" % self.mqtt_port), MQTT_TIMEOUT_S)

    async def _physics(self):
        """Step the site: the house and PV follow their schedule, the cars their limits."""
        last = time.monotonic()
        while not self.stop.is_set():
            await asyncio.sleep(PHYSICS_S)
            now = time.monotonic()
            dt = now - last
            last = now
            t = now - self.t0
            load, self.house_event = self.house.load_a(t)
            self.model.household_a = load
            self.model.solar_w = self.house.solar_w(t)
            for k in range(1, len(self.chargers)):
                c = self.chargers[k]
                if self.house.plugged(k, t):
                    c.plug()
                elif c.plugged:
                    c.unplug()
            for c in self.chargers:
                c.apply_limit()        # a profile may have expired
            self.model.step(dt)
            for c in self.chargers:
                c.tick(dt)
            for p in range(len(self.model.grid_a)):
                self.report.max_per_phase_a[p] = max(self.report.max_per_phase_a[p], self.model.grid_a[p])
            top = max(self.model.grid_a)
            if top > self.report.max_phase_a:
                self.report.max_phase_a = top
                self.report.max_phase_at_s = t
            if top > self.report.breaker_a:
                self.report.over_breaker_s += dt

    async def _publish(self):
        while not self.stop.is_set():
            for topic, payload in meter_messages(self.model):
                try:
                    await asyncio.wait_for(self.mqtt.publish(topic, payload, qos=0), MQTT_TIMEOUT_S)
                    self.mqtt_error = ""
                except Exception as e:   # the broker went away: keep the site running, show it
                    self.mqtt_error = "%s: %s" % (type(e).__name__, e)
            try:
                await asyncio.wait_for(self.stop.wait(), PUBLISH_S)
            except asyncio.TimeoutError:
                pass

    async def _watch(self):
        """The firmware must stay up for the whole run."""
        while not self.stop.is_set():
            if not self.fw.alive():
                self._firmware_failed("it exited with code %s" % self.fw.proc.returncode)
                return
            try:
                await asyncio.wait_for(self.stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass

    async def _show(self):
        while not self.stop.is_set():
            sys.stdout.write("\x1b[H\x1b[2J" + self.render() + "\n")
            sys.stdout.flush()
            try:
                await asyncio.wait_for(self.stop.wait(), TABLE_S)
            except asyncio.TimeoutError:
                pass

    def render(self):
        """The live table, as text."""
        m = self.model
        r = self.report
        site = self.site
        usable = site["breaker_a"] - site["breaker_margin_a"]
        lines = ["Dynamic OCPP EVSE simulator   %6.0f s   Ctrl-C to stop" % self.elapsed_s(),
                 "site: breaker %g A per phase, the firmware plans to %g A (margin %g A), mode %s, %s"
                 % (site["breaker_a"], usable, site["breaker_margin_a"], site["mode"], site["distribution"]),
                 "",
                 "phase   grid A   limit A   house A   highest A"]
        for p in range(3):
            flag = "  OVER THE BREAKER" if m.grid_a[p] > site["breaker_a"] else ""
            lines.append("L%d    %7.2f   %7g   %7.2f   %9.2f%s" % (p + 1, m.grid_a[p], usable, m.household_a[p],
                                                                  r.max_per_phase_a[p], flag))
        lines.append("house: %s;  PV %.0f W;  battery %.0f %% %+.0f W" % (self.house_event, m.solar_w, m.soc,
                                                                          m.battery_w))
        lines += ["", "charger  link  OCPP status     commanded A  offered A  drawn A  energy kWh  profiles"]
        for c in self.chargers:
            lim = c.profile_limit_a()
            lines.append("%-7s  %-4s  %-14s  %11s  %9.1f  %7.1f  %10.3f  %8d" % (
                c.id, "up" if c.connected else "down", c.status or "-",
                "-" if lim is None else "%.1f" % lim, c.offered_a, c.car.draw_a, c.energy_wh / 1000.0,
                c.profiles_received))
        fw_lines = list(self.fw.lines)
        cycles = [x for x in fw_lines[-40:] if " cycle " in x]
        lines += ["", ("firmware: %s" % (fw_lines[-1] if fw_lines else "(no output yet)"))[:160]]
        if cycles:
            lines.append(("last cycle: %s" % cycles[-1].strip())[:160])
        for c in self.chargers:
            lines.append("%s: %s" % (c.id, c.last_event[:150]))
        if self.mqtt_error:
            lines.append("mqtt: %s" % self.mqtt_error[:150])
        if self.log_ring.lines:
            lines.append(self.log_ring.lines[-1][:160])
        return "\n".join(lines)


class _Abort(Exception):
    """The run cannot go on (the firmware did not start); the report says why."""


def run(duration_s=None, heap_kb=None, cycle_s=5, table=None, code_in_rom=False,
        n_chargers=DEFAULT_CHARGERS, micropython=None, frozen=False):
    """Run the simulation; returns (Report, firmware's last lines, heap the ROMFS image
    holds). ``micropython``: the port to run the firmware on (default: the 64-bit PyPI
    one); ``frozen``: it has the firmware frozen in (host_tools.board_model). Everything it
    started is stopped before it returns, also on Ctrl-C or an error."""
    if table is None:
        table = not duration_s
    log_ring = _quiet_libraries()
    brk = broker_mod.start_broker()
    fw = None
    state_dir = tempfile.mkdtemp(prefix="dynevse-sim-")
    try:
        web_port = free_port()
        config = sim_config(web_port, brk.port, cycle_s, n_chargers)
        from host_tools import run as run_mod
        fw = run_mod.start_firmware(config, heap_kb=heap_kb, state_dir=state_dir, code_in_rom=code_in_rom,
                                    micropython=micropython or run_mod.MICROPYTHON, frozen=frozen)
        print("sim: the status page: http://127.0.0.1:%d/" % web_port, file=sys.stderr, flush=True)
        sim = Simulation(fw, web_port, brk.port, cycle_s, duration_s, table, log_ring, n_chargers)
        try:
            report = asyncio.run(sim.run())
        except _Abort:
            report = sim.report
        return report, list(fw.lines), fw.rom_bytes
    finally:
        # a second Ctrl-C (or a SIGTERM) must not cut the clean-up short
        held = [(sig, signal.signal(sig, signal.SIG_IGN)) for sig in (signal.SIGINT, signal.SIGTERM)]
        try:
            if fw is not None:
                fw.stop()
            brk.stop()
            shutil.rmtree(state_dir, ignore_errors=True)
        finally:
            for sig, handler in held:
                signal.signal(sig, handler)


def firmware_heap(lines):
    """(in use, peak) from the firmware's last cycle line ("... | heap N peak M"), or None."""
    for line in reversed(list(lines or ())):
        i = line.find("| heap ")
        if i >= 0:
            parts = line[i + 7:].split()
            try:
                return int(parts[0]), int(parts[2])
            except (IndexError, ValueError):
                return None
    return None


def _parser():
    p = argparse.ArgumentParser(prog="python -m host_tools.sim",
                                description="The firmware, simulated chargers with cars, a house "
                                            "and a private MQTT broker, all on this PC.",
                                epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="run S seconds without the live table, then print one summary line")
    p.add_argument("--chargers", type=int, default=DEFAULT_CHARGERS, metavar="N",
                   help="chargers on the site, each with a car (1-%d; default %d; the breaker grows "
                        "with them, see breaker_for)" % (MAX_CHARGERS, DEFAULT_CHARGERS))
    p.add_argument("--heap-kb", type=int, default=None,
                   help="MicroPython heap for the firmware in KB (default: the unix port's own)")
    p.add_argument("--model", choices=("esp32",), default=None,
                   help="run the firmware on the board model (the 32-bit unix port, ESP32 object "
                        "sizes; built by make board-model) instead of the 64-bit PyPI port")
    p.add_argument("--frozen", action="store_true",
                   help="with --model esp32: the model with the firmware frozen in (boards/manifest.py), "
                        "the stand-in for our ESP32 image; nothing is loaded from .mpy files")
    p.add_argument("--code-in-rom", action="store_true",
                   help="measure the firmware with its bytecode run in place from a ROMFS image, as "
                        "a ROMFS partition would hold it (the image is not counted)")
    p.add_argument("--cycle-s", type=float, default=5, help="the firmware's control cycle (s, 1-60)")
    return p


def main(argv):
    args = _parser().parse_args(argv)
    if args.duration is not None and args.duration <= 0:
        print("sim: --duration must be positive", file=sys.stderr)
        return EXIT_USAGE
    if not 1 <= args.cycle_s <= 60:
        print("sim: --cycle-s must be from 1 to 60", file=sys.stderr)
        return EXIT_USAGE
    if not 1 <= args.chargers <= MAX_CHARGERS:
        print("sim: --chargers must be from 1 to %d" % MAX_CHARGERS, file=sys.stderr)
        return EXIT_USAGE
    if args.frozen and args.model != "esp32":
        print("sim: --frozen needs --model esp32 (only the board model has the firmware frozen in)",
              file=sys.stderr)
        return EXIT_USAGE
    if args.frozen and args.code_in_rom:
        print("sim: --frozen and --code-in-rom exclude each other", file=sys.stderr)
        return EXIT_USAGE
    micropython = None
    if args.model == "esp32":
        from host_tools import board_model
        try:
            micropython = board_model.build(args.frozen, quiet=True)
        except board_model.ModelError as e:
            print(e, file=sys.stderr)
            return EXIT_USAGE
        except RuntimeError as e:
            print(e, file=sys.stderr)
            return EXIT_FIRMWARE
    from host_tools.build import BuildError

    def terminated(_sig, _frame):   # before and after the run's own handlers: stop as Ctrl-C does
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminated)
    try:
        report, _fw_lines, rom_bytes = run(args.duration, args.heap_kb, args.cycle_s, code_in_rom=args.code_in_rom,
                                           n_chargers=args.chargers, micropython=micropython, frozen=args.frozen)
    except BuildError as e:
        print("sim: building the firmware failed: %s" % e, file=sys.stderr)
        return EXIT_FIRMWARE
    except KeyboardInterrupt:      # during the build or the broker's start; all stopped
        print("sim: interrupted before the run started", file=sys.stderr)
        return EXIT_INTERRUPTED
    for line in report.details():
        print(line, file=sys.stderr)
    heap = firmware_heap(_fw_lines)
    if heap is not None and heap[1] > 0:      # 0: no cycle measured yet
        notes = ", heap %d KB" % args.heap_kb if args.heap_kb else ""
        if args.model:
            notes += ", board model%s" % (", firmware frozen in" if args.frozen else ", .mpy files")
        if args.code_in_rom:
            notes += ", code in ROM: the image's %d bytes not counted" % rom_bytes
        print("sim: firmware heap in use %d bytes, peak %d bytes (after each cycle's collection%s)"
              % (heap[0] - rom_bytes, heap[1] - rom_bytes, notes), file=sys.stderr)
    print(report.summary(), flush=True)
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
