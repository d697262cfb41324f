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

    def __init__(self, board, wifi):
        self.board = board
        self.wifi = wifi
        self.address = None
        self.access_point = False
        self.joins = 0

    def _open_access_point(self, why):
        if not self.access_point:
            w = self.wifi
            log.warning("%s; setup access point %r is open", why, w["ap_ssid"])
            self.board.start_access_point(w["ap_ssid"], w["ap_password"])
            self.access_point = True

    async def _join(self):
        self.joins += 1
        self.board.wifi_join(self.wifi)
        waited = 0
        while waited < _JOIN_WAIT_MS:
            a = self.board.wifi_address()
            if a is not None:
                return a
            await sleep_ms(_POLL_MS)
            waited += _POLL_MS
        return None

    async def run(self):
        """The task: for ever (cancelled to stop)."""
        board = self.board
        if not self.wifi["ssid"]:
            self.address = board.wifi_address()     # a board on another network (the PC)
            if self.address is None:
                self._open_access_point("no Wi-Fi network configured")
            while True:
                await sleep_ms(3600000)
        while True:
            a = board.wifi_address()
            if a is None:
                if self.address is not None:
                    log.warning("Wi-Fi link lost; joining again")
                    self.address = None
                a = await self._join()
            if a is None:
                self._open_access_point("Wi-Fi %r not joined" % self.wifi["ssid"])
                await sleep_ms(_RETRY_MS)
                continue
            if self.address is None:
                self.address = a
                log.info("network up: %s", a)
                board.sync_time()
                if self.access_point:
                    board.stop_access_point()
                    self.access_point = False
                    log.info("setup access point closed")
            await sleep_ms(_CHECK_MS)
