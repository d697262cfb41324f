# Runs first on the board. Kept tiny: GC threshold, safe-mode escape, watchdog.
import gc

gc.threshold(8192)   # collect early: a fragmented heap is what kills an ESP32 program

from dynevse import hal  # noqa: E402

board = hal.start()
if not board.safe_mode_requested():   # button held at boot: no watchdog, setup portal
    board.watchdog_start(board.cfg.get("watchdog_ms", 30000))
