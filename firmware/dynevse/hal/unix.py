"""The simulated board: the firmware on a PC under the MicroPython unix port.

No CT clamps, a watchdog that only counts, files under a root directory (``DYNEVSE_ROOT``
or the working directory). Wi-Fi is the PC's network, always joined.

The web server listens on the loopback, not on every interface as a board does:
``DYNEVSE_LISTEN=host:port`` (set by ``host_tools run``, which picks a free high port
unless told otherwise) overrides the address and the configured ``web.port``.
"""
import os
import sys
import time

from dynevse.aio import ticks_ms
from dynevse.hal.files import read_text, remove, write_atomic

SOFT_RESET_EXIT = 4


class Board:
    def __init__(self, board_cfg, root=None):
        self.cfg = board_cfg or {}
        self.name = self.cfg.get("name", "unix-sim")
        self.root = root or os.getenv("DYNEVSE_ROOT") or "."
        self.config_path = self.root + "/config.json"
        self.watchdog_ms = None
        self.watchdog_feeds = 0
        self._t0 = time.ticks_ms() if hasattr(time, "ticks_ms") else None
        self._mono_t0 = time.time()

    def read_text(self, path):
        return read_text(path)

    def write_atomic(self, path, text):
        write_atomic(path, text)

    def remove(self, path):
        remove(path)

    def monotonic_ms(self):
        return ticks_ms()

    def monotonic_s(self):
        if self._t0 is None:
            return time.time() - self._mono_t0
        return time.ticks_diff(time.ticks_ms(), self._t0) / 1000

    def utc_s(self):
        return time.time()

    def watchdog_start(self, ms):
        self.watchdog_ms = ms

    def watchdog_feed(self):
        self.watchdog_feeds += 1

    def led(self, on):
        pass

    def listen_address(self, port):
        """(host, port) for the web server, given the configured ``port``."""
        v = os.getenv("DYNEVSE_LISTEN")
        if not v:
            return "127.0.0.1", port
        host, p = v.rsplit(":", 1) if ":" in v else (v, "")
        return host or "127.0.0.1", int(p) if p else port

    def read_ct(self):
        return None

    def wifi_join(self, wifi):
        pass

    def wifi_address(self):
        return "127.0.0.1"

    def start_access_point(self, ssid, password):
        return "127.0.0.1"

    def stop_access_point(self):
        pass

    def sync_time(self):
        return True

    def safe_mode_requested(self):
        return os.getenv("DYNEVSE_SAFE_MODE") == "1"

    def reset(self):
        sys.exit(3)

    def soft_reset(self):
        # the runner (host_tools.run) starts the firmware again, as a board restarts Python
        sys.exit(SOFT_RESET_EXIT)
