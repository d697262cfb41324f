"""The ESP32 board (ESP32, ESP32-S3): ADC for the CT clamps, LED, watchdog, Wi-Fi, NTP.

Pins and CT calibration come from the board file (boards/<board>.json, copied to the
board as /board.json).
"""
import time

import machine
import network

from dynevse.aio import ticks_diff, ticks_ms
from dynevse.hal.files import read_text, remove, write_atomic

_EPOCH_OFFSET = 946684800 if time.gmtime(0)[0] == 2000 else 0   # ports with a 2000 epoch


class Board:
    def __init__(self, board_cfg):
        self.cfg = board_cfg
        self.name = board_cfg.get("name", "esp32")
        self.config_path = "/config.json"
        pins = board_cfg.get("pins", {})
        self._adcs = []
        for p in pins.get("ct_adc") or ():
            adc = machine.ADC(machine.Pin(p))
            adc.atten(machine.ADC.ATTN_11DB)
            self._adcs.append(adc)
        led = pins.get("led")
        self._led = machine.Pin(led, machine.Pin.OUT) if led is not None else None
        btn = pins.get("safe_mode_button")
        self._button = machine.Pin(btn, machine.Pin.IN, machine.Pin.PULL_UP) if btn is not None else None
        self._wdt = None
        self._last_ticks = ticks_ms()
        self._mono_ms = 0

    def read_text(self, path):
        return read_text(path)

    def write_atomic(self, path, text):
        write_atomic(path, text)

    def remove(self, path):
        remove(path)

    def monotonic_ms(self):
        return ticks_ms()

    def monotonic_s(self):
        now = ticks_ms()
        self._mono_ms += ticks_diff(now, self._last_ticks)
        self._last_ticks = now
        return self._mono_ms / 1000

    def utc_s(self):
        return time.time() + _EPOCH_OFFSET


    def watchdog_start(self, ms):
        self._wdt = machine.WDT(timeout=ms)

    def watchdog_feed(self):
        if self._wdt is not None:
            self._wdt.feed()

    def led(self, on):
        if self._led is not None:
            self._led.value(1 if on else 0)

    def read_ct(self):
        """RMS current per clamp in A (magnitude: a CT alone can't tell import from export).

        Samples all clamps interleaved over one window (several mains periods), removes
        the bias by subtracting each channel's mean.
        """
        if not self._adcs:
            return None
        ct = self.cfg.get("ct") or {}
        n = ct.get("samples", 400)
        k = len(self._adcs)
        sums = [0] * k
        squares = [0] * k
        for _ in range(n):
            for i in range(k):
                v = self._adcs[i].read_uv()
                sums[i] += v
                squares[i] += v * v
        amps_per_uv = ct.get("ratio_a_per_a", 2000) / ct.get("burden_ohm", 33) / 1e6
        out = []
        for i in range(k):
            mean = sums[i] / n
            var = squares[i] / n - mean * mean
            out.append((var ** 0.5 if var > 0 else 0.0) * amps_per_uv)
        return out

    def wifi_join(self, wifi):
        """Start joining ``wifi`` (ssid, password, hostname); ``wifi_address`` says when."""
        wlan = network.WLAN(network.STA_IF)
        wlan.active(True)
        if wifi.get("hostname"):
            try:
                network.hostname(wifi["hostname"])
            except (AttributeError, ValueError):
                pass
        try:
            wlan.disconnect()
        except OSError:
            pass
        wlan.connect(wifi["ssid"], wifi.get("password", ""))

    def wifi_address(self):
        wlan = network.WLAN(network.STA_IF)
        return wlan.ifconfig()[0] if wlan.active() and wlan.isconnected() else None

    def start_access_point(self, ssid, password):
        ap = network.WLAN(network.AP_IF)
        ap.active(True)
        if password:
            ap.config(essid=ssid, password=password, authmode=network.AUTH_WPA2_PSK)
        else:
            ap.config(essid=ssid, authmode=network.AUTH_OPEN)
        return ap.ifconfig()[0]

    def stop_access_point(self):
        network.WLAN(network.AP_IF).active(False)

    def listen_address(self, port):
        """(host, port) for the web server: every interface, the configured port."""
        return "0.0.0.0", port

    def sync_time(self):
        try:
            import ntptime
            ntptime.settime()
            return True
        except (OSError, ImportError):
            return False

    def safe_mode_requested(self):
        return self._button is not None and self._button.value() == 0

    def reset(self):
        machine.reset()

    def soft_reset(self):
        machine.soft_reset()
