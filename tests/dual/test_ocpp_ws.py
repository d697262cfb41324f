"""WebSocket framing (RFC 6455) on in-memory streams: messages, fragments, control frames,
and the close code for each fault.

Runs under pytest and on the MicroPython unix port (tests/dual/run.py). ``Streams`` and
the frame helpers are also used by test_ocpp_central.
"""
import asyncio

from dynevse.ocpp import accept
from dynevse.ocpp.ws import WebSocket, WebSocketClosed

MASK = b"\x37\xfa\x21\x3d"


class Streams:
    """A reader/writer pair in memory: ``feed`` what the charger sends; what the server
    writes collects in ``out``. At the end of the input the reader reports EOF unless
    ``hold`` (then it waits, as a silent peer does)."""

    def __init__(self, data=b"", hold=False):
        self.buf = bytearray(data)
        self.hold = hold
        self.out = bytearray()
        self.more = asyncio.Event()

    def feed(self, data):
        self.buf.extend(data)
        self.more.set()

    async def readexactly(self, n):
        while len(self.buf) < n:
            if not self.hold:
                raise EOFError("end of input")
            self.more.clear()
            await self.more.wait()
        d = bytes(self.buf[:n])
        self.buf = self.buf[n:]
        return d

    async def read(self, n):
        while not self.buf:
            if not self.hold:
                return b""
            self.more.clear()
            await self.more.wait()
        d = bytes(self.buf[:n])
        self.buf = self.buf[n:]
        return d

    async def readline(self):
        i = self.buf.find(b"\n")
        return await self.readexactly(i + 1 if i >= 0 else len(self.buf))

    def write(self, data):
        self.out.extend(data)

    async def drain(self):
        pass


def frame(opcode, payload, fin=True, masked=True, rsv=0, length=None):
    """A client frame; ``length`` overrides the length field (for lies about the size)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    head = bytearray([(0x80 if fin else 0) | rsv | opcode])
    m = 0x80 if masked else 0
    if n < 126:
        head.append(m | n)
    elif n < 65536:
        head.append(m | 126)
        head.extend(n.to_bytes(2, "big"))
    else:
        head.append(m | 127)
        head.extend(n.to_bytes(8, "big"))
    if not masked:
        return bytes(head) + payload
    body = bytearray(payload)
    for i in range(len(body)):
        body[i] ^= MASK[i % 4]
    return bytes(head) + MASK + bytes(body)


def text(s, fin=True):
    return frame(1, s, fin)


def server_frames(out):
    """Parse what the server sent: a list of (opcode, payload bytes); server frames are unmasked."""
    frames = []
    i = 0
    while i < len(out):
        assert out[i] & 0x80, "server frames are not fragmented"
        op = out[i] & 0x0F
        assert not out[i + 1] & 0x80, "server frames must not be masked"
        n = out[i + 1] & 0x7F
        i += 2
        if n == 126:
            n = int.from_bytes(out[i:i + 2], "big")
            i += 2
        elif n == 127:
            n = int.from_bytes(out[i:i + 8], "big")
            i += 8
        frames.append((op, bytes(out[i:i + n])))
        i += n
    return frames


def close_code(payload):
    return payload[0] << 8 | payload[1]


def run(coro):
    return asyncio.run(coro)


def receive_all(data, max_bytes=1024, timeout_s=5, runner=run):
    """Feed ``data`` to a WebSocket; returns (messages, close exception or None, server frames).
    ``runner`` runs the coroutine (test_fuzz keeps one event loop for its thousands of inputs)."""
    s = Streams(data)
    ws = WebSocket(s, s, max_bytes, timeout_s)
    got = []

    async def go():
        try:
            while True:
                got.append(await ws.receive())
        except WebSocketClosed as e:
            return e

    err = runner(go())
    return got, err, server_frames(s.out)


def test_text_messages():
    got, err, sent = receive_all(text('[2, "1", "Heartbeat", {}]') + text("é ok"))
    assert got == ['[2, "1", "Heartbeat", {}]', "é ok"]
    # the input then ends without a close frame: 1006, nothing sent
    assert err.code == 1006 and sent == []


def test_lengths_16_and_64_bit():
    body = "x" * 300
    got, _, _ = receive_all(text(body), 1024)
    assert got == [body]
    big = "y" * 70000
    got, _, _ = receive_all(text(big), 80000)
    assert got == [big]


def test_fragmented_message_with_a_ping_in_between():
    data = text("[2, ", fin=False) + frame(9, b"hi") + frame(0, '"7", ', fin=False) + \
        frame(0, '"Heartbeat", {}]')
    got, err, sent = receive_all(data)
    assert got == ['[2, "7", "Heartbeat", {}]']
    assert sent == [(10, b"hi")]     # the ping is answered with a pong of the same data


def test_utf8_split_across_fragments_is_fine():
    raw = "é".encode()
    got, _, _ = receive_all(frame(1, raw[:1], fin=False) + frame(0, raw[1:]))
    assert got == ["é"]


def check_fault(data, code, max_bytes=1024):
    got, err, sent = receive_all(data, max_bytes)
    assert err is not None and err.code == code, (err, code)
    assert sent[-1][0] == 8 and close_code(sent[-1][1]) == code, sent
    return got


def test_message_over_the_limit_is_closed_with_1009():
    check_fault(text("z" * 1025), 1009)
    # a length field that lies about a huge frame is refused before anything is read
    check_fault(frame(1, b"", length=1 << 40), 1009)
    # fragments add up
    check_fault(text("a" * 600, fin=False) + frame(0, "b" * 600), 1009)
    got = check_fault(text("ok") + text("z" * 2000), 1009)
    assert got == ["ok"]


class Counted(Streams):
    """Streams that note the largest read asked for (``most``)."""
    most = 0

    async def readexactly(self, n):
        self.most = max(self.most, n)
        return await Streams.readexactly(self, n)

    async def read(self, n):
        self.most = max(self.most, n)
        return await Streams.read(self, n)


def test_a_frame_far_over_the_limit_is_dropped_in_chunks_up_to_the_chargers_close():
    # 200 KB against a limit of 1 KB, then the charger's answer to our close: the board
    # sends its 1009 first, then reads the whole frame (so the socket is not closed with
    # unread data, which resets it and loses the close frame) a chunk at a time (no
    # buffer of the frame's size), and stops at the charger's close frame.
    for size in (70 * 1024, 200 * 1024):
        s = Counted(text("z" * size) + frame(8, b"\x03\xf1") + text("never read"))
        s.hold = True      # the charger keeps the connection open after its close frame
        ws = WebSocket(s, s, 1024, 5)

        async def go():
            try:
                await ws.receive()
            except WebSocketClosed as e:
                return e

        err = run(go())
        assert err.code == 1009
        sent = server_frames(s.out)
        assert len(sent) == 1 and sent[0][0] == 8 and close_code(sent[0][1]) == 1009
        assert bytes(s.buf) == text("never read")      # read up to the close, not beyond
        assert s.most <= 512, s.most


def test_protocol_faults_close_with_their_codes():
    check_fault(frame(2, b"\x01\x02"), 1003)                     # binary: not OCPP-J
    check_fault(frame(1, "hi", masked=False), 1002)              # client frame not masked
    check_fault(frame(1, "hi", rsv=0x40), 1002)                  # reserved bit
    check_fault(frame(3, "hi"), 1002)                            # opcode 3 is reserved
    check_fault(frame(11, "hi"), 1002)                           # opcode 11 is reserved
    check_fault(frame(9, "p", fin=False), 1002)                  # fragmented ping
    check_fault(frame(9, "p" * 126), 1002)                       # control frame > 125 bytes
    check_fault(frame(0, "orphan"), 1002)                        # continuation without a start
    check_fault(text("a", fin=False) + text("b"), 1002)          # new message inside a fragmented one
    check_fault(text(b"\xff\xfe"), 1007)                         # not UTF-8
    check_fault(frame(1, b"", length=(1 << 63) + 5), 1002)       # 64-bit length with the top bit set


def test_close_handshake():
    got, err, sent = receive_all(text("a") + frame(8, b"\x03\xe8bye"))
    assert got == ["a"] and err.code == 1000
    assert sent == [(8, b"\x03\xe8")]            # the close is answered with the same code
    _, err, sent = receive_all(frame(8, b""))     # no code given: 1000 normal
    assert err.code == 1000 and close_code(sent[0][1]) == 1000
    _, err, sent = receive_all(frame(8, b"\x0f\xa0"))    # 4000: an application's code
    assert err.code == 4000 and close_code(sent[0][1]) == 4000
    check_fault(frame(8, b"\x03"), 1002)                  # a one-byte close payload
    check_fault(frame(8, b"\x03\xed"), 1002)              # 1005 may not be sent
    check_fault(frame(8, b"\x03\xe8\xff"), 1007)          # the reason is not UTF-8


def test_connection_ending_in_the_middle_of_a_frame():
    whole = text("0123456789")
    for cut in (1, 2, 5, len(whole) - 1):
        got, err, sent = receive_all(whole[:cut])
        assert got == [] and err.code == 1006 and sent == [], cut


def test_a_stalled_frame_times_out():
    s = Streams(text("abcdef")[:4], hold=True)   # header and part of the mask, then silence
    ws = WebSocket(s, s, 1024, 0.2)

    async def go():
        try:
            await ws.receive()
        except WebSocketClosed as e:
            return e

    err = run(go())
    assert err.code == 1008 and close_code(server_frames(s.out)[0][1]) == 1008


def test_send_text_frames():
    s = Streams()
    ws = WebSocket(s, s, 1024, 5)

    async def go():
        await ws.send_text("hi")
        await ws.send_text("h" * 200)
        await ws.send_text("k" * 70000)
        await ws.ping()

    run(go())
    assert server_frames(s.out) == [(1, b"hi"), (1, b"h" * 200), (1, b"k" * 70000), (9, b"")]
    assert bytes(s.out[:2]) == b"\x81\x02" and bytes(s.out[4:8]) == b"\x81\x7e\x00\xc8"


def test_nothing_is_sent_after_close():
    s = Streams()
    ws = WebSocket(s, s, 1024, 0.2)

    async def go():
        await ws.close(1001, "bye")
        try:
            await ws.send_text("late")
        except WebSocketClosed:
            return True

    assert run(go()) is True
    assert server_frames(s.out) == [(8, b"\x03\xe9bye")]


def test_handshake_helpers():
    # the example of RFC 6455 section 1.3
    assert accept.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert accept.pick_subprotocol("ocpp1.6") == "ocpp1.6"
    assert accept.pick_subprotocol("ocpp2.0.1, OCPP1.6") == "OCPP1.6"
    assert accept.pick_subprotocol("ocpp2.0.1") is None
    assert accept.pick_subprotocol("ocpp1.6j") is None
    assert accept.pick_subprotocol(None) is None and accept.pick_subprotocol("") is None
    r = accept.handshake_response("dGhlIHNhbXBsZSBub25jZQ==", "ocpp1.6")
    assert r.startswith(b"HTTP/1.1 101 Switching Protocols\r\n") and r.endswith(b"\r\n\r\n")
    assert b"Sec-WebSocket-Protocol: ocpp1.6\r\n" in r
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in r
    assert b"Sec-WebSocket-Protocol" not in accept.handshake_response("x", None)


def test_a_pause_between_messages_is_no_fault():
    # only a started frame must be completed in time; the next message may take as long
    # as it takes (the session's watch pings a silent charger), and nothing is lost
    s = Streams(hold=True)
    ws = WebSocket(s, s, 1024, 0.05)

    async def go():
        got = asyncio.create_task(ws.receive())
        await asyncio.sleep(0.2)
        s.feed(text("after the pause"))
        return await got

    assert run(go()) == "after the pause"
    assert s.out == b""


def test_a_fragmented_message_must_be_completed_in_time():
    s = Streams(text("[2, ", fin=False), hold=True)
    ws = WebSocket(s, s, 1024, 0.1)

    async def go():
        try:
            await ws.receive()        # no time limit between messages, but inside one
        except WebSocketClosed as e:
            return e.code

    assert run(go()) == 1008
    assert close_code(server_frames(s.out)[0][1]) == 1008
