"""The ESP32 board module against fake machine/network modules (a unit test of one
module: the real hardware can't run here). Runs on CPython and the MicroPython unix port."""
import math
import sys


class _Pin:
    OUT = 1
    IN = 0
    PULL_UP = 2

    def __init__(self, n, mode=None, pull=None):
        self.n = n
        self.v = 1
        self.mode = mode

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v


class _ADC:
    ATTN_11DB = 3
    amps = {}   # pin number -> RMS current the fake clamp sees

    def __init__(self, pin):
        self.pin = pin.n
        self.i = 0

    def atten(self, a):
        self.att = a

    def read_uv(self):
        # SCT-013 2000:1 into 33 ohm on a 1.65 V bias, 40 samples per mains period:
        # I A rms -> I/2000 A -> x33 ohm = I*0.0165 V rms -> peak I*0.0165*sqrt(2) V.
        peak_uv = self.amps.get(self.pin, 0) / 2000 * 33 * math.sqrt(2) * 1e6
        v = 1650000 + peak_uv * math.sin(2 * math.pi * self.i / 40)
        self.i += 1
        return int(v)


class _WDT:
    def __init__(self, timeout):
        self.timeout = timeout
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class _Machine:
    Pin = _Pin
    ADC = _ADC
    WDT = _WDT

    def reset(self):
        raise SystemExit("reset")


def _board(pins):
    sys.modules["machine"] = _Machine()
    sys.modules["network"] = object()
    sys.modules.pop("dynevse.hal.esp32", None)
    from dynevse.hal import esp32
    # keep the fakes out of every other test's way
    del sys.modules["machine"]
    del sys.modules["network"]
    cfg = {"name": "t", "pins": pins,
           "ct": {"ratio_a_per_a": 2000, "burden_ohm": 33, "samples": 400}}
    return esp32.Board(cfg)


def test_ct_rms_per_phase():
    _ADC.amps = {36: 10.0, 39: 0.0, 34: 32.0}
    b = _board({"ct_adc": [36, 39, 34], "led": 2, "safe_mode_button": 0})
    a, bb, c = b.read_ct()
    # 400 samples = 10 whole periods: the RMS of the sine is exact up to ADC rounding (1 uV)
    assert abs(a - 10.0) < 0.01 and abs(bb) < 0.01 and abs(c - 32.0) < 0.01, (a, bb, c)


def test_no_clamps_no_reading():
    b = _board({"ct_adc": [], "led": None, "safe_mode_button": None})
    assert b.read_ct() is None
    assert b.safe_mode_requested() is False
    b.led(True)    # no LED: nothing happens


def test_watchdog_led_button_and_monotonic():
    b = _board({"ct_adc": [36], "led": 2, "safe_mode_button": 0})
    b.watchdog_feed()             # before start: no watchdog, no error
    b.watchdog_start(30000)
    b.watchdog_feed()
    b.watchdog_feed()
    assert b._wdt.timeout == 30000 and b._wdt.feeds == 2
    b.led(True)
    assert b._led.v == 1
    b._button.v = 0               # held at boot
    assert b.safe_mode_requested() is True
    t1 = b.monotonic_s()
    t2 = b.monotonic_s()
    assert 0 <= t1 <= t2
