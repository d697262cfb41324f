"""Board access: the only place that touches machine and network.

Every board module (``esp32``, ``unix``) provides a ``Board`` class with the same small
interface, so the rest of the firmware never asks which runtime it is on:

- ``name``; ``config_path``; ``read_text(path)`` (None if absent); ``write_atomic(path, text)``;
  ``remove(path)``
- the one clock: ``monotonic_ms()`` (ticks in ms: compare with ``aio.ticks_diff``),
  ``monotonic_s()`` (float seconds, never wraps) and ``utc_s()`` (Unix time as the board's
  clock has it: before NTP set it, an ESP32's clock starts in 2000)
- ``watchdog_start(ms)``, ``watchdog_feed()``
- ``led(on)``
- ``read_ct()``: RMS current per phase in A from the CT clamps, or None without clamps
- Wi-Fi, driven by one supervisor (``dynevse.wifi``): ``wifi_join(wifi)`` (starts joining,
  never waits), ``wifi_address()`` (the address once joined, else None),
  ``start_access_point(ssid, password)``, ``stop_access_point()``, ``sync_time()``
- ``listen_address(port)``: (host, port) the web server binds to, given the configured port
- ``safe_mode_requested()``: the safe-mode button is held at boot
- ``reset()``; ``soft_reset()`` (Python starts again: frees everything, keeps the files)
"""

import json

current = None   # the Board once started (boot.py starts it on the board)


def start(root=None):
    """The Board described by board.json in the code's root, created once."""
    global current
    if current is None:
        with open("board.json") as f:
            board_cfg = json.load(f)
        current = load(board_cfg.get("hal", "unix"), board_cfg, root)
    return current


def load(kind, board_cfg, root=None):
    """The Board for ``kind`` ("esp32" or "unix"), imported only when asked for."""
    if kind == "esp32":
        from dynevse.hal.esp32 import Board
        return Board(board_cfg)
    from dynevse.hal.unix import Board
    return Board(board_cfg, root)
