"""Who may connect, and the answer to the upgrade request.

Imported by ``CentralSystem.serve`` for each connection attempt and forgotten after, so
none of this stays in the heap while chargers are connected.

``refusal`` judges an upgrade request's headers (400 not an upgrade, 426 wrong websocket
version, 404 unknown charger id (remembered in ``CentralSystem.unknown``), 401 wrong or
missing password); ``accept`` writes the answer: a refusal in HTTP/1.1 or the 101 with
the ``ocpp1.6`` subprotocol, and returns the ``WebSocket`` of an accepted charger.
"""
import binascii
import hashlib

from dynevse import aio
from dynevse.compat import const
from dynevse.ocpp.ws import WebSocket

try:
    from gc import collect, mem_free
except ImportError:           # CPython: no fixed heap to run out of
    mem_free = None

_MAX_UNKNOWN = const(8)       # unknown ids remembered for the setup page
_UNKNOWN_ID_MAX = const(48)   # characters of an unknown id kept
_IO_TIMEOUT_S = const(10)     # a write, or the rest of a started frame, must finish in this time
_REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 426: "Upgrade Required",
            503: "Service Unavailable"}
# A connection is set up only with this much heap free (after a collection): a session
# takes 2.0-2.9 KB while connected and its setup ~1.5 KB more at its peak (32-bit board
# model), with as much again for the rest of the firmware meanwhile. 20 KB (what the
# frozen model's cycle needs beside the sessions) was tried: it refused the second
# charger of the stock path at 144 KB (19 KB free there). Below it the charger is refused
# at the door (503) and tries again, held by its last or fallback profile meanwhile (or
# counted at its rating by the regulator).
ADMIT_FREE_B = const(8192)
_RETRY_AFTER_S = const(10)


def header(headers, name):
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


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    d = hashlib.sha1(key.encode())
    d.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
    return binascii.b2a_base64(d.digest())[:-1].decode()


def pick_subprotocol(offer):
    """The client's spelling of ocpp1.6 among the offered subprotocols, or None."""
    for token in (offer or "").split(","):
        token = token.strip()
        if token.lower() == "ocpp1.6":
            return token
    return None


def handshake_response(key, subprotocol):
    """The 101 answer to an upgrade request; without a subprotocol when none was agreed."""
    lines = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
            "Sec-WebSocket-Accept: " + accept_key(key) + "\r\n"
    if subprotocol:
        lines += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n"
    return (lines + "\r\n").encode()


def heap_free(cs):
    """The free heap in bytes after a collection (a test's ``cs.mem_free`` where set),
    or None where there is no fixed heap."""
    if cs.mem_free is not None:
        return cs.mem_free()
    if mem_free is None:
        return None
    collect()
    return mem_free()


def _remember_unknown(cs, cp_id):
    cp_id = cp_id[:_UNKNOWN_ID_MAX]
    now = cs.clock.monotonic_ms()
    unknown = cs.unknown
    for i in range(len(unknown)):
        e = unknown[i]
        if e[0] == cp_id:
            unknown.pop(i)
            e[1] += 1
            e[2] = now
            unknown.append(e)
            return
    if len(unknown) >= _MAX_UNKNOWN:
        unknown.pop(0)
    unknown.append([cp_id, 1, now])


def refusal(cs, cp_id, headers):
    """None when a websocket upgrade for ``cp_id`` may go ahead, else the HTTP answer
    ``(body, status, headers)``: 400 not an upgrade, 426 wrong websocket version,
    404 unknown charger id (remembered), 401 wrong or missing password, 503 too little
    heap free to set it up (``ADMIT_FREE_B``)."""
    upgrade = header(headers, "upgrade") or ""
    connection = header(headers, "connection") or ""
    if upgrade.lower() != "websocket" or "upgrade" not in connection.lower() \
            or not header(headers, "sec-websocket-key"):
        return "websocket upgrade expected\n", 400, {}
    if header(headers, "sec-websocket-version") != "13":
        return "websocket version 13 expected\n", 426, {"Sec-WebSocket-Version": "13"}
    session = cs.chargers.get(cp_id)
    if session is None:
        cs.counters["refused_unknown"] += 1
        _remember_unknown(cs, cp_id)
        return "unknown charge point\n", 404, {}
    password = session.opts["password"]
    if password and not basic_auth_ok(header(headers, "authorization"), cp_id, password):
        cs.counters["refused_auth"] += 1
        session._log("refused a connection: wrong or missing password")
        return "authorization required\n", 401, {"WWW-Authenticate": 'Basic realm="OCPP"'}
    free = heap_free(cs)
    if free is not None and free < ADMIT_FREE_B:
        cs.counters["refused_memory"] += 1
        session._log("refused a connection: %d bytes of heap free, %d needed to set it up; it tries again"
                     % (free, ADMIT_FREE_B))
        return "out of memory, try again later\n", 503, {"Retry-After": str(_RETRY_AFTER_S)}
    return None


async def accept(cs, cp_id, headers, reader, writer):
    """Answer an upgrade request for ``cp_id``; the ``WebSocket`` of an accepted charger,
    else None (refused, gone during the handshake, or closed for want of ocpp1.6)."""
    refused = refusal(cs, cp_id, headers)
    if refused is None:
        proto = pick_subprotocol(header(headers, "sec-websocket-protocol"))
        writer.write(handshake_response(header(headers, "sec-websocket-key"), proto))
    else:
        # HTTP/1.1 and a reason phrase: websocket clients refuse anything else
        body, status, extra = refused
        head = "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" \
               "Connection: close\r\n" % (status, _REASONS[status], len(body.encode()))
        for k in extra:
            head += "%s: %s\r\n" % (k, extra[k])
        writer.write((head + "\r\n" + body).encode())
    try:
        await aio.wait_for(writer.drain(), _IO_TIMEOUT_S)
    except Exception:    # the charger left during the handshake
        return None
    if refused is not None:
        return None
    ws = WebSocket(reader, writer, cs.config["max_message_bytes"], _IO_TIMEOUT_S)
    if proto is None:
        cs.counters["refused_protocol"] += 1
        cs.chargers[cp_id]._log("refused a connection: no ocpp1.6 subprotocol offered")
        await ws.close(1002, "subprotocol ocpp1.6 required")
        return None
    return ws
