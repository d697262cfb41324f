"""One supervisor task owns the Wi-Fi: it joins, rejoins when the link drops, and keeps
the setup access point up while the network can't be joined.

A board that can't join (a wrong password, the router off) opens its access point and
keeps trying in the background; once joined, the access point closes again. With no
network configured the access point stays up: it is how the board is set up.
"""
from dynevse import log
from dynevse.aio import sleep_ms
from dynevse.compat import const

_JOIN_WAIT_MS = const(20000)     # a join that has not succeeded by then has failed
_POLL_MS = const(250)
_CHECK_MS = const(5000)          # how often a joined link is looked at
_RETRY_MS = const(30000)         # between failed joins


class WifiSupervisor:
    """``wifi``: the ``wifi`` settings (ssid, password, hostname, ap_ssid, ap_password).
    ``address`` is the board's address once joined (None before and while down)."""

    def __init__(self, board, wifi, join_wait_ms=_JOIN_WAIT_MS, retry_ms=_RETRY_MS, check_ms=_CHECK_MS):
        self.board = board
        self.wifi = wifi
        self._timing = (join_wait_ms, retry_ms, check_ms)
        self.address = None
        self.access_point = False

    async def run(self):
        """The task: for ever (cancelled to stop)."""
        board = self.board
        w = self.wifi
        join_ms, retry_ms, check_ms = self._timing
        poll_ms = min(_POLL_MS, join_ms // 4 + 1)
        while True:
            a = board.wifi_address()
            if a is None and w["ssid"]:
                if self.address is not None:
                    log.warning("Wi-Fi link lost; joining again")
                board.wifi_join(w)
                waited = 0
                while a is None and waited < join_ms:
                    await sleep_ms(poll_ms)
                    waited += poll_ms
                    a = board.wifi_address()
            if a is None:
                self.address = None
                if not self.access_point:
                    log.warning("%s; setup access point %r is open",
                                "Wi-Fi %r not joined" % w["ssid"] if w["ssid"] else "no Wi-Fi network configured",
                                w["ap_ssid"])
                    board.start_access_point(w["ap_ssid"], w["ap_password"])
                    self.access_point = True
                await sleep_ms(retry_ms)
                continue
            if a != self.address:
                log.info("network up: %s", a)
                board.sync_time()
                self.address = a
            if self.access_point:
                board.stop_access_point()
                self.access_point = False
                log.info("setup access point closed")
            await sleep_ms(check_ms)
