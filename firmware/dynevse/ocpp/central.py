"""The OCPP central system: the settings, one session per known charger, and who connects.

``CentralSystem`` holds the settings, the clock, a ``ChargePointSession`` per configured
charger, the short list of unknown ids that tried to connect, and the ids it hands out
(unique ids of CALLs, transaction ids). It knows nothing of HTTP frameworks: ``serve``
runs an upgrade request on a stream pair (``server.py`` mounts it on microdot). What is
needed only when a charger connects (checking the request, the handshake) is in
``accept.py``, imported for that and forgotten after.
"""
from dynevse.compat import const
from dynevse.ocpp.session import ChargePointSession, _lazy, _forget

_TX_EPOCH_S = const(1577836800)   # 2020-01-01T00:00:00Z


class CentralSystem:
    """The OCPP 1.6J central system (see the package docstring for the interface).

    ``checked``: ``config`` and ``chargers`` are already validated, with defaults filled
    in (``dynevse.settings.check_config`` does it at boot); otherwise they are validated
    here (``config.py``, which is then imported).
    """

    _watching = False    # the watch over silent connections runs (session._watch)

    def __init__(self, config=None, chargers=(), clock=None, log_sink=None, checked=False):
        if not checked:
            from dynevse.ocpp.config import check_ocpp, check_chargers_ocpp
            config = check_ocpp(config)
            chargers = check_chargers_ocpp(chargers)
        if clock is None:
            from dynevse.ocpp.clock import SystemClock
            clock = SystemClock()
        self.config = config
        self.clock = clock
        self.log_sink = log_sink
        self.chargers = {}
        for opts in chargers:
            self.chargers[opts["id"]] = ChargePointSession(self, opts)
        self.ids = sorted(self.chargers)
        self.unknown = []     # [id, attempts, last_ms], least recently seen first
        self.counters = {"refused_unknown": 0, "refused_auth": 0, "refused_protocol": 0}
        self._uid = 0         # the last unique id of a CALL
        # Transaction ids continue across restarts of the board: one id per minute since
        # 2020 is more than a home's chargers start, so a new id is never an old one.
        self._tx = 1 + max(0, (int(clock.utc_s()) - _TX_EPOCH_S) // 60)

    def charger(self, cp_id):
        """The session of a known charger id, or None."""
        return self.chargers.get(cp_id)

    async def serve(self, cp_id, headers, reader, writer):
        """Answer an upgrade request for ``cp_id`` and serve the charger until it leaves.

        A refused request gets its HTTP answer (``accept.refusal``). Without an ocpp1.6
        subprotocol offer the handshake completes without one and the connection is closed
        at once (1002), as OCPP-J 1.6 asks of a central system.
        """
        try:
            ws = await _lazy("accept").accept(self, cp_id, headers, reader, writer)
        finally:
            _forget("accept")
        if ws is not None:
            await self.chargers[cp_id].run_connection(ws)

    def totals(self):
        """Counters summed over the chargers, with the connection refusals."""
        try:
            return _lazy("occasional").totals(self)
        finally:
            _forget("occasional")

    def status(self):
        """A summary for a status page or the JSON API: each charger's id, connection and
        status, the unknown ids (ages in seconds) and the counters. Details per charger:
        ``charger(id).snapshot(now_ms)``."""
        try:
            return _lazy("occasional").status(self)
        finally:
            _forget("occasional")
