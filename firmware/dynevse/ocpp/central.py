"""The OCPP central system: who may connect, and one session per known charger.

``CentralSystem`` holds the validated settings, the clock, a ``ChargePointSession`` per
configured charger, the short list of unknown ids that tried to connect, and the ids it
hands out (unique ids of CALLs, transaction ids). It knows nothing of HTTP frameworks:
``refusal`` judges an upgrade request's headers and ``serve`` runs an accepted one on a
stream pair (``server.py`` mounts both on microdot).
"""
import binascii

from dynevse import aio
from dynevse.compat import const
from dynevse.ocpp.clock import SystemClock
from dynevse.ocpp.config import check_ocpp, check_chargers_ocpp
from dynevse.ocpp.session import ChargePointSession, ACCEPTED
from dynevse.ocpp.ws import (WebSocket, pick_subprotocol, handshake_response,
                             CLOSE_PROTOCOL_ERROR)

_MAX_UNKNOWN = const(8)       # unknown ids remembered for the setup page
_UNKNOWN_ID_MAX = const(48)   # characters of an unknown id kept
_IO_TIMEOUT_S = const(10)     # a write, or the rest of a started frame, must finish in this time
_TX_EPOCH_S = const(1577836800)   # 2020-01-01T00:00:00Z
_REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 426: "Upgrade Required"}


def _header(headers, name):
    """A request header by lower-case name, whatever the mapping's case handling."""
    v = headers.get(name)
    if v is not None:
        return v
    for k in headers:
        if k.lower() == name:
            return headers[k]
    return None


def _same(a, b):
    """Compare secrets without stopping at the first difference."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= ord(a[i]) ^ ord(b[i])
    return diff == 0


def basic_auth_ok(value, user, password):
    """Whether an Authorization header carries Basic ``user``:``password``."""
    if not value:
        return False
    parts = value.strip().split(" ", 1)
    if len(parts) != 2 or parts[0].lower() != "basic":
        return False
    try:
        text = str(binascii.a2b_base64(parts[1].strip()), "utf-8")
    except Exception:    # not base64, not UTF-8
        return False
    u, sep, p = text.partition(":")
    return sep == ":" and _same(u, user) and _same(p, password)


class CentralSystem:
    """The OCPP 1.6J central system (see the package docstring for the interface)."""

    def __init__(self, config=None, chargers=(), clock=None, log_sink=None):
        self.config = check_ocpp(config)
        self.clock = clock if clock is not None else SystemClock()
        self.log_sink = log_sink
        self.chargers = {}
        for opts in check_chargers_ocpp(chargers):
            self.chargers[opts["id"]] = ChargePointSession(self, opts)
        self.ids = sorted(self.chargers)
        self.unknown = []     # [id, attempts, last_ms], least recently seen first
        self.counters = {"refused_unknown": 0, "refused_auth": 0, "refused_protocol": 0}
        self._uid = 0
        # Transaction ids continue across restarts of the board: one id per minute since
        # 2020 is more than a home's chargers start, so a new id is never an old one.
        self._tx = 1 + max(0, (int(self.clock.utc_s()) - _TX_EPOCH_S) // 60)

    def charger(self, cp_id):
        """The session of a known charger id, or None."""
        return self.chargers.get(cp_id)

    def next_unique_id(self):
        self._uid += 1
        return str(self._uid)

    def new_transaction_id(self):
        self._tx += 1
        return self._tx

    def id_tag_status(self, id_tag):
        """Accepted with free charging or for a tag in the allow-list; Invalid otherwise.
        IdTokens are case-insensitive strings (CiString20)."""
        if self.config["free_charging"]:
            return ACCEPTED
        tag = id_tag.lower()
        for t in self.config["id_tags"]:
            if t.lower() == tag:
                return ACCEPTED
        return "Invalid"

    def _remember_unknown(self, cp_id):
        cp_id = cp_id[:_UNKNOWN_ID_MAX]
        now = self.clock.monotonic_ms()
        for i in range(len(self.unknown)):
            e = self.unknown[i]
            if e[0] == cp_id:
                self.unknown.pop(i)
                e[1] += 1
                e[2] = now
                self.unknown.append(e)
                return
        if len(self.unknown) >= _MAX_UNKNOWN:
            self.unknown.pop(0)
        self.unknown.append([cp_id, 1, now])

    def refusal(self, cp_id, headers):
        """None when a websocket upgrade for ``cp_id`` may go ahead, else the HTTP answer
        ``(body, status, headers)``: 400 not an upgrade, 426 wrong websocket version,
        404 unknown charger id (remembered), 401 wrong or missing password."""
        upgrade = _header(headers, "upgrade") or ""
        connection = _header(headers, "connection") or ""
        if upgrade.lower() != "websocket" or "upgrade" not in connection.lower() \
                or not _header(headers, "sec-websocket-key"):
            return "websocket upgrade expected\n", 400, {}
        if _header(headers, "sec-websocket-version") != "13":
            return "websocket version 13 expected\n", 426, {"Sec-WebSocket-Version": "13"}
        session = self.chargers.get(cp_id)
        if session is None:
            self.counters["refused_unknown"] += 1
            self._remember_unknown(cp_id)
            return "unknown charge point\n", 404, {}
        password = session.opts["password"]
        if password and not basic_auth_ok(_header(headers, "authorization"), cp_id, password):
            self.counters["refused_auth"] += 1
            session._log("refused a connection: wrong or missing password")
            return "authorization required\n", 401, {"WWW-Authenticate": 'Basic realm="OCPP"'}
        return None

    async def serve(self, cp_id, headers, reader, writer):
        """Answer an upgrade request for ``cp_id`` and serve the charger until it leaves.

        A refused request gets its HTTP answer (see ``refusal``). Without an ocpp1.6
        subprotocol offer the handshake completes without one and the connection is closed
        at once (1002), as OCPP-J 1.6 asks of a central system.
        """
        refused = self.refusal(cp_id, headers)
        if refused is None:
            session = self.chargers[cp_id]
            proto = pick_subprotocol(_header(headers, "sec-websocket-protocol"))
            writer.write(handshake_response(_header(headers, "sec-websocket-key"), proto))
        else:
            # HTTP/1.1 and a reason phrase: websocket clients refuse anything else
            body, status, extra = refused
            head = "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" \
                   "Connection: close\r\n" % (status, _REASONS[status], len(body))
            for k in extra:
                head += "%s: %s\r\n" % (k, extra[k])
            writer.write((head + "\r\n" + body).encode())
        try:
            await aio.wait_for(writer.drain(), _IO_TIMEOUT_S)
        except Exception:    # the charger left during the handshake
            return
        if refused is not None:
            return
        ws = WebSocket(reader, writer, self.config["max_message_bytes"], _IO_TIMEOUT_S)
        if proto is None:
            self.counters["refused_protocol"] += 1
            session._log("refused a connection: no ocpp1.6 subprotocol offered")
            await ws.close(CLOSE_PROTOCOL_ERROR, "subprotocol ocpp1.6 required")
            return
        await session.run_connection(ws)

    def totals(self):
        """Counters summed over the chargers, with the connection refusals."""
        out = dict(self.counters)
        for cp_id in self.ids:
            c = self.chargers[cp_id].counters
            for k in c:
                out[k] = out.get(k, 0) + c[k]
        return out

    def status(self):
        """A summary for a status page or the JSON API: each charger's id, connection and
        status, the unknown ids (ages in seconds) and the counters. Details per charger:
        ``charger(id).snapshot(now_ms)``."""
        now = self.clock.monotonic_ms()
        unknown = []
        for e in self.unknown:
            unknown.append({"id": e[0], "attempts": e[1], "age_s": aio.ticks_diff(now, e[2]) // 1000})
        chargers = []
        for i in self.ids:
            s = self.chargers[i]
            chargers.append({"id": i, "connected": s.connected, "status": s.status()})
        return {"chargers": chargers, "unknown": unknown, "counters": self.totals()}
