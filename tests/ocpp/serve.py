"""Start the standalone OCPP server with its control API, on CPython or MicroPython.

    micropython tests/ocpp/serve.py HOST PORT CONFIG.json [--clock-rate N]
    python tests/ocpp/serve.py HOST PORT CONFIG.json [--clock-rate N]

The runtime's module path must reach ``dynevse`` and ``microdot`` (tests/ocpp/ocpp_peer.py
sets it up). Log lines go to stdout.

``--clock-rate N``: the central system's monotonic clock runs N times as fast as real
time (``FastClock``), so that profiles of the schema's shortest duration (60 s) lapse in
a few real seconds. The test's charge points keep their profiles on a clock of the same
rate (ocpp_peer.Charger's ``clock``): both ends of the wire agree on how long a profile
lasts, as a board and a real charger do; only the time scale is a test's. Timeouts of
calls and of the websocket stay in real time.
"""
import sys

from dynevse import aio
from dynevse.ocpp.clock import SystemClock
from dynevse.ocpp.standalone import main


class FastClock(SystemClock):
    """``monotonic_ms`` at ``rate`` times real time, from 0 (ticks that stay far from
    MicroPython's wrap for as long as a test runs); wall time as it is."""

    def __init__(self, rate):
        SystemClock.__init__(self)
        self.rate = rate
        self._t0 = aio.ticks_ms()

    def monotonic_ms(self):
        return aio.ticks_diff(aio.ticks_ms(), self._t0) * self.rate


argv = sys.argv
clock = None
if "--clock-rate" in argv:
    i = argv.index("--clock-rate")
    clock = FastClock(int(argv[i + 1]))
    argv = argv[:i] + argv[i + 2:]
sys.exit(main(argv + ["--control"], clock))
