"""WebSocket (RFC 6455) server side over an asyncio stream pair, as OCPP-J needs it.

``accept.py`` answers the HTTP upgrade request; a ``WebSocket`` then speaks frames: text
messages assembled from continuation frames up to a size bound (larger: close 1009, and
the rest of it read and dropped a chunk at a time, so the close reaches the charger),
ping answered with pong, the close handshake, and a close with the RFC's code for every
protocol fault (client frame not masked, reserved bits, bad opcode, binary message,
invalid UTF-8...).

Every read after the first byte of a frame and every write has a timeout. Waiting for
the next message has none: the session's watch pings a silent charger and ends the
connection of one silent too long (``last_rx_ms`` is when a frame last came).
"""
from dynevse import aio
from dynevse.compat import const

_OP_CONT = const(0)
_OP_TEXT = const(1)
_OP_BINARY = const(2)
_OP_CLOSE = const(8)
_OP_PING = const(9)
_OP_PONG = const(10)

_NORMAL = const(1000)
_PROTOCOL_ERROR = const(1002)
_ABNORMAL = const(1006)        # never sent: the TCP connection ended without a close
_INVALID_DATA = const(1007)

_LINGER_S = const(2)
_CHUNK = const(512)            # what is read at a time of a payload that is dropped


class WebSocketClosed(Exception):
    """The connection is over; ``code`` is the close code (1006: it just ended)."""

    def __init__(self, code, reason="", skip=0):
        super().__init__(code, reason)
        self.code = code
        self.skip = skip     # bytes of the frame at fault still to come (its mask and payload)


class WebSocket:
    """One server-side websocket connection on ``reader``/``writer``.

    ``closed``: 0 while open, else the close code (a close frame went out, or the
    connection is dead). ``close_request``: (code, reason) another task wants this
    connection closed with. ``last_rx_ms``/``ping_ms``: when a frame last came / the
    last ping went out (``aio.ticks_ms``).
    """

    def __init__(self, reader, writer, max_message_bytes, io_timeout_s):
        self._reader = reader
        self._writer = writer
        self._max = max_message_bytes
        self._timeout_s = io_timeout_s
        self._sending = False
        self.closed = 0
        self.close_request = None
        self.last_rx_ms = self.ping_ms = aio.ticks_ms()

    async def _read(self, n):
        try:
            return await self._reader.readexactly(n)
        except (EOFError, OSError):   # IncompleteReadError is an EOFError
            self.closed = _ABNORMAL
            raise WebSocketClosed(_ABNORMAL, "ended")

    async def _frame(self, b0, buf):
        """The rest of a frame whose first byte is ``b0`` (None: not read yet), inside the
        message ``buf`` (None between messages): (b0, mask and payload)."""
        if b0 is None:
            b0 = (await self._read(1))[0]
        b1 = (await self._read(1))[0]
        opcode = b0 & 0x0F
        fault = None
        if b0 & 0x70:
            fault = "reserved bits"
        elif not b1 & 0x80:
            fault = "not masked"
        elif opcode >= _OP_CLOSE:
            if opcode > _OP_PONG:
                fault = "bad opcode"
            elif not b0 & 0x80 or (b1 & 0x7F) > 125:
                fault = "bad control frame"
        elif opcode == _OP_BINARY:
            raise WebSocketClosed(1003, "binary")
        elif opcode > _OP_BINARY:
            fault = "bad opcode"
        elif (opcode == _OP_CONT) == (buf is None):
            fault = "bad continuation"
        n = b1 & 0x7F
        if fault is None and n == 127:
            ext = await self._read(8)
            if ext[0] & 0x80:
                fault = "bad length"
            n = int.from_bytes(ext, "big")
        if fault is not None:
            raise WebSocketClosed(_PROTOCOL_ERROR, fault)
        if n == 126:
            n = int.from_bytes(await self._read(2), "big")
        if opcode < _OP_CLOSE and (len(buf) if buf else 0) + n > self._max:
            raise WebSocketClosed(1009, "too big", 4 + n)
        return b0, await self._read(4 + n)

    async def receive(self):
        """The next text message (str).

        Pings are answered and a close is returned here; a protocol fault is answered with
        the close code the RFC names. Raises ``WebSocketClosed`` when the connection is
        over. Once a frame or a fragmented message has begun, the rest must come in time.
        """
        buf = None     # the message being assembled, None between messages
        try:
            while True:
                b0 = None
                if buf is None:
                    # the first byte of a message may take as long as it takes (read here,
                    # not through _read: one coroutine less waiting per connection)
                    try:
                        b0 = (await self._reader.readexactly(1))[0]
                    except (EOFError, OSError):
                        self.closed = _ABNORMAL
                        raise WebSocketClosed(_ABNORMAL, "ended")
                try:
                    b0, data = await aio.wait_for(self._frame(b0, buf), self._timeout_s)
                except aio.TimeoutError:
                    raise WebSocketClosed(1008, "frame timeout")
                self.last_rx_ms = aio.ticks_ms()
                opcode = b0 & 0x0F
                # a data frame adds to the message, a control frame is on its own
                payload = bytearray() if opcode >= _OP_CLOSE else buf if buf is not None else bytearray()
                start = len(payload)
                payload.extend(memoryview(data)[4:])
                for i in range(start, len(payload)):
                    payload[i] ^= data[(i - start) & 3]
                data = None
                if opcode < _OP_CLOSE:
                    buf = payload
                    if b0 & 0x80:
                        try:
                            return str(buf, "utf-8")
                        except UnicodeError:
                            raise WebSocketClosed(_INVALID_DATA, "text not UTF-8")
                    continue
                if opcode == _OP_PING:
                    await self._send(_OP_PONG, payload)
                elif opcode == _OP_CLOSE:
                    # answered with the charger's code (1000 when it gave none)
                    code = _NORMAL
                    if len(payload) == 1:
                        raise WebSocketClosed(_PROTOCOL_ERROR, "bad close")
                    if payload:
                        code = payload[0] << 8 | payload[1]
                        # the codes a peer may send (RFC 6455 7.4)
                        if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
                            raise WebSocketClosed(_PROTOCOL_ERROR, "bad close")
                        try:
                            str(payload[2:], "utf-8")
                        except UnicodeError:
                            raise WebSocketClosed(_INVALID_DATA, "bad close")
                    await self._send_close(code, "")
                    raise WebSocketClosed(code, "closed")
        except WebSocketClosed as e:
            if not self.closed:
                # a fault of the charger's: close with its code, then read and drop the
                # rest of the frame at fault and what follows up to the charger's close
                # (bounded in time, a chunk at a time): closing a socket with unread data
                # resets it, and the charger would lose the close frame
                await self._send_close(e.code, e.args[1])
                await self._linger(e.skip or -1)
            raise

    async def _linger(self, skip):
        """Drop ``skip`` bytes (the rest of a frame too big to take, within io_timeout_s),
        then, within _LINGER_S, the frames up to the charger's close when the framing is
        known (``skip`` or a close of ours), else everything up to the end of the input.
        Never raises: the connection ends either way."""
        try:
            if skip > 0:
                await aio.wait_for(self._skip(skip), self._timeout_s)
            await aio.wait_for(self._until_close() if skip >= 0 else self._skip(None),
                               min(self._timeout_s, _LINGER_S))
        except Exception:    # a timeout, the end of the input, a reset
            pass

    async def _skip(self, n):
        """Drop ``n`` bytes (None: up to the end of the input), a chunk at a time."""
        while n is None or n > 0:
            d = await self._reader.read(_CHUNK if n is None or n > _CHUNK else n)
            if not d:
                if n is None:
                    return
                raise EOFError()
            if n is not None:
                n -= len(d)

    async def _until_close(self):
        r = self._reader
        while True:
            head = await r.readexactly(2)
            n = head[1] & 0x7F
            if n >= 126:
                n = int.from_bytes(await r.readexactly(2 if n == 126 else 8), "big")
            await self._skip((4 if head[1] & 0x80 else 0) + n)
            if head[0] & 0x0F == _OP_CLOSE:
                return

    async def _send(self, opcode, payload):
        # one frame at a time: on MicroPython a second write during a drain that waits
        # would be lost (contention is rare, so no Lock is kept per connection)
        while self._sending:
            await aio.sleep_ms(5)
        if self.closed:
            raise WebSocketClosed(self.closed, "closed")
        n = len(payload)
        if n < 126:
            head = bytes((0x80 | opcode, n))
        elif n < 65536:
            head = bytes((0x80 | opcode, 126, n >> 8, n & 0xFF))
        else:
            head = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
        self._sending = True
        w = self._writer
        try:
            w.write(head)
            w.write(payload)
            await aio.wait_for(w.drain(), self._timeout_s)
        except (OSError, aio.TimeoutError):
            self.closed = _ABNORMAL
            raise WebSocketClosed(_ABNORMAL, "ended")
        finally:
            self._sending = False

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
        self.closed = code

    async def close(self, code=_NORMAL, reason=""):
        """Start the close handshake: send a close frame and wait (bounded) for the answer,
        dropping the frames still on their way."""
        await self._send_close(code, reason)
        await self._linger(0)
