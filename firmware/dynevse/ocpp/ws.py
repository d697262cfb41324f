"""WebSocket (RFC 6455) server side over an asyncio stream pair, as OCPP-J needs it.

microdot parses the HTTP upgrade request; this module answers it (``handshake_response``,
with the ``ocpp1.6`` subprotocol) and then speaks frames: text messages assembled from
continuation frames up to a size bound (larger: close 1009), ping answered with pong,
the close handshake, and a close with the RFC's code for every protocol fault (client
frame not masked, reserved bits, bad opcode, binary message, invalid UTF-8...).

Every read after the first byte of a frame and every write has a timeout; waiting for
the next message has the idle time the caller gives (the session pings a silent peer).
"""
import asyncio
import binascii
import hashlib

from dynevse import aio
from dynevse.compat import const

_OP_CONT = const(0)
_OP_TEXT = const(1)
_OP_BINARY = const(2)
_OP_CLOSE = const(8)
_OP_PING = const(9)
_OP_PONG = const(10)

CLOSE_NORMAL = const(1000)
CLOSE_GOING_AWAY = const(1001)
CLOSE_PROTOCOL_ERROR = const(1002)
CLOSE_UNSUPPORTED_DATA = const(1003)
CLOSE_ABNORMAL = const(1006)        # never sent: the TCP connection ended without a close
CLOSE_INVALID_DATA = const(1007)
CLOSE_POLICY = const(1008)
CLOSE_TOO_BIG = const(1009)
CLOSE_INTERNAL_ERROR = const(1011)

_LINGER_S = const(2)
_LINGER_READS = const(128)      # 64 KB at most

SUBPROTOCOL = "ocpp1.6"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WebSocketIdle(Exception):
    """No frame began within the idle time given to ``receive``."""


class WebSocketClosed(Exception):
    """The connection is over; ``code`` is the close code (1006: it just ended)."""

    def __init__(self, code, reason=""):
        super().__init__("%d %s" % (code, reason))
        self.code = code
        self.reason = reason


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    d = hashlib.sha1(key.encode())
    d.update(_GUID)
    return binascii.b2a_base64(d.digest())[:-1].decode()


def pick_subprotocol(offer):
    """The client's spelling of ocpp1.6 among the offered subprotocols, or None."""
    if not offer:
        return None
    for token in offer.split(","):
        token = token.strip()
        if token.lower() == SUBPROTOCOL:
            return token
    return None


def handshake_response(key, subprotocol):
    """The 101 answer to an upgrade request; without a subprotocol when none was agreed."""
    lines = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
            "Sec-WebSocket-Accept: " + accept_key(key) + "\r\n"
    if subprotocol:
        lines += "Sec-WebSocket-Protocol: " + subprotocol + "\r\n"
    return (lines + "\r\n").encode()


def valid_close_code(code):
    """Codes a peer may send in a close frame (RFC 6455 7.4)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def _unmask(buf, start, mask):
    m0, m1, m2, m3 = mask[0], mask[1], mask[2], mask[3]
    i = start
    n = len(buf)
    while i + 3 < n:
        buf[i] ^= m0
        buf[i + 1] ^= m1
        buf[i + 2] ^= m2
        buf[i + 3] ^= m3
        i += 4
    j = 0
    while i < n:
        buf[i] ^= mask[j]
        i += 1
        j += 1


def frame_header(opcode, length):
    """The header of an unmasked, final frame (what a server sends)."""
    if length < 126:
        return bytes((0x80 | opcode, length))
    if length < 65536:
        return bytes((0x80 | opcode, 126, length >> 8, length & 0xFF))
    return bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")


class _Fault(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class WebSocket:
    """One server-side websocket connection on ``reader``/``writer``."""

    def __init__(self, reader, writer, max_message_bytes, io_timeout_s):
        self._reader = reader
        self._writer = writer
        self._max = max_message_bytes
        self._timeout_s = io_timeout_s
        self._lock = asyncio.Lock()
        self.closed = False       # a close frame went out, or the connection is dead
        self.close_code = None
        self.close_request = None  # (code, reason) another task wants this connection closed with
        self.last_rx_ms = aio.ticks_ms()

    async def _read(self, n):
        try:
            return await self._reader.readexactly(n)
        except (EOFError, OSError):   # IncompleteReadError is an EOFError
            self.closed = True
            raise WebSocketClosed(CLOSE_ABNORMAL, "connection ended")

    async def _frame(self, b0, buf):
        """The rest of a frame whose first byte is ``b0`` (None: not read yet), inside the
        message ``buf`` (None between messages): (b0, b1, mask and payload)."""
        if b0 is None:
            b0 = (await self._read(1))[0]
        b1 = (await self._read(1))[0]
        opcode = b0 & 0x0F
        if b0 & 0x70:
            raise _Fault(CLOSE_PROTOCOL_ERROR, "reserved bits set")
        if not b1 & 0x80:
            raise _Fault(CLOSE_PROTOCOL_ERROR, "client frame not masked")
        if opcode >= _OP_CLOSE:
            if opcode > _OP_PONG:
                raise _Fault(CLOSE_PROTOCOL_ERROR, "unknown opcode %d" % opcode)
            if not b0 & 0x80 or (b1 & 0x7F) > 125:
                raise _Fault(CLOSE_PROTOCOL_ERROR, "control frame fragmented or too long")
        elif opcode == _OP_BINARY:
            raise _Fault(CLOSE_UNSUPPORTED_DATA, "binary messages are not OCPP-J")
        elif opcode > _OP_BINARY:
            raise _Fault(CLOSE_PROTOCOL_ERROR, "unknown opcode %d" % opcode)
        elif opcode == _OP_CONT and buf is None:
            raise _Fault(CLOSE_PROTOCOL_ERROR, "continuation frame without a message")
        elif opcode == _OP_TEXT and buf is not None:
            raise _Fault(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await self._read(2), "big")
        elif n == 127:
            ext = await self._read(8)
            if ext[0] & 0x80:
                raise _Fault(CLOSE_PROTOCOL_ERROR, "frame length out of range")
            n = int.from_bytes(ext, "big")
        if opcode < _OP_CLOSE and (len(buf) if buf else 0) + n > self._max:
            raise _Fault(CLOSE_TOO_BIG, "message larger than %d bytes" % self._max)
        return b0, b1, await self._read(4 + n)

    async def receive(self, idle_s=0):
        """The next text message (str).

        Pings are answered and a close is returned here; a protocol fault is answered with
        the close code the RFC names. Raises ``WebSocketClosed`` when the connection is over,
        and ``WebSocketIdle`` when no message began within ``idle_s`` seconds (0: wait on).
        Once a frame or a fragmented message has begun, the rest must come in time.
        """
        buf = None     # the message being assembled, None between messages
        while True:
            b0 = None
            if buf is None:
                if idle_s:
                    try:
                        # one byte alone: a read the timeout cancels has taken nothing
                        b0 = await aio.wait_for(self._read(1), idle_s)
                    except aio.TimeoutError:
                        raise WebSocketIdle()
                else:
                    b0 = await self._read(1)
                b0 = b0[0]
            try:
                try:
                    b0, b1, data = await aio.wait_for(self._frame(b0, buf), self._timeout_s)
                except aio.TimeoutError:
                    raise _Fault(CLOSE_POLICY, "frame not completed in time")
                opcode = b0 & 0x0F
                mask = data[:4]
                if opcode < _OP_CLOSE:
                    if buf is None:
                        buf = bytearray()
                    start = len(buf)
                    buf.extend(memoryview(data)[4:])
                    data = None
                    _unmask(buf, start, mask)
                    if not b0 & 0x80:
                        continue
                    try:
                        text = str(buf, "utf-8")
                    except UnicodeError:
                        raise _Fault(CLOSE_INVALID_DATA, "text message is not UTF-8")
                    self.last_rx_ms = aio.ticks_ms()
                    return text
                payload = bytearray(memoryview(data)[4:])
                data = None
                _unmask(payload, 0, mask)
                self.last_rx_ms = aio.ticks_ms()
                if opcode == _OP_PING:
                    await self._send(_OP_PONG, payload)
                elif opcode == _OP_CLOSE:
                    await self._answer_close(payload)
            except _Fault as f:
                await self._send_close(f.code, f.reason)
                await self._linger()
                raise WebSocketClosed(f.code, f.reason)

    async def _linger(self):
        """Read and drop what the peer still sends until it closes (bounded in time and
        bytes): closing a socket with unread data resets it, and the peer would lose our
        close frame."""
        try:
            await aio.wait_for(self._drain_input(), min(self._timeout_s, _LINGER_S))
        except Exception:    # timeout or a reset: the connection ends either way
            pass

    async def _drain_input(self):
        for _ in range(_LINGER_READS):
            if not await self._reader.read(512):
                return

    async def _answer_close(self, payload):
        code = CLOSE_NORMAL
        if len(payload) == 1:
            raise _Fault(CLOSE_PROTOCOL_ERROR, "close frame of one byte")
        if len(payload) >= 2:
            code = payload[0] << 8 | payload[1]
            if not valid_close_code(code):
                raise _Fault(CLOSE_PROTOCOL_ERROR, "invalid close code %d" % code)
            try:
                str(payload[2:], "utf-8")
            except UnicodeError:
                raise _Fault(CLOSE_INVALID_DATA, "close reason is not UTF-8")
        await self._send_close(code, "")
        raise WebSocketClosed(code, "closed by the charger")

    async def _send(self, opcode, payload):
        if self.closed:
            raise WebSocketClosed(self.close_code or CLOSE_ABNORMAL, "already closed")
        # one frame at a time: a write may yield half way on MicroPython
        async with self._lock:
            w = self._writer
            try:
                w.write(frame_header(opcode, len(payload)))
                w.write(payload)
                await aio.wait_for(w.drain(), self._timeout_s)
            except (OSError, aio.TimeoutError):
                self.closed = True
                self.close_code = CLOSE_ABNORMAL
                raise WebSocketClosed(CLOSE_ABNORMAL, "write failed")

    async def send_text(self, text):
        """Send one text message."""
        await self._send(_OP_TEXT, text.encode())

    async def ping(self):
        await self._send(_OP_PING, b"")

    async def _send_close(self, code, reason):
        if self.closed:
            return
        try:
            await self._send(_OP_CLOSE, bytes((code >> 8, code & 0xFF)) + reason.encode()[:120])
        except WebSocketClosed:
            pass
        self.closed = True
        self.close_code = code

    async def close(self, code=CLOSE_NORMAL, reason=""):
        """Start the close handshake: send a close frame and wait (bounded) for the answer."""
        await self._send_close(code, reason)
        try:
            for _ in range(16):   # a few frames may still be on their way
                b0, b1, data = await aio.wait_for(self._frame(None, None), self._timeout_s)
                if b0 & 0x0F == _OP_CLOSE:
                    break
        except Exception:   # timeout, EOF, a bad frame: the connection ends either way
            pass
