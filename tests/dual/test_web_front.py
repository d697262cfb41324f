"""The HTTP front: bounded request heads, routing to OCPP, refusals. In-memory streams,
both runtimes."""
import asyncio

from dynevse.web import front


class FakeReader:
    def __init__(self, data, chunk=7):
        self.data = data
        self.chunk = chunk

    async def read(self, n):
        n = min(n, self.chunk)
        out, self.data = self.data[:n], self.data[n:]
        return out


class FakeWriter:
    def __init__(self):
        self.out = b""
        self.closed = False

    def write(self, b):
        self.out += b

    async def drain(self):
        pass

    def close(self):
        self.closed = True

    async def wait_closed(self):
        pass


class FakeCentral:
    def __init__(self):
        self.calls = []

    async def serve(self, cp_id, headers, reader, writer):
        self.calls.append((cp_id, headers))
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")


def run(coro):
    return asyncio.run(coro)


def handle(data, central=None, pages=None):
    w = FakeWriter()
    f = front.Front(central, pages)
    run(f.handle(FakeReader(data), w))
    return f, w


def test_unquote():
    assert front.unquote("cp%201") == "cp 1"
    assert front.unquote("plain") == "plain"
    assert front.unquote("bad%zzend%4") == "bad%zzend%4"     # bad escapes stay as they are


def test_parse_head():
    m, p, h = front.parse_head(b"GET /ocpp/cp1?x=1 HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Protocol: ocpp1.6")
    assert (m, p) == ("GET", "/ocpp/cp1") and h == {"host": "a", "sec-websocket-protocol": "ocpp1.6"}
    assert front.parse_head(b"GARBAGE") is None
    assert front.parse_head(b"GET / HTTP/1.1\r\nno colon here") is None
    assert front.parse_head(b"GET / SPDY/9") is None
    assert front.parse_head(b"GET / HTTP/1.1\r\n\xff: x") is None


def test_ocpp_upgrade_is_routed_with_decoded_id():
    c = FakeCentral()
    f, w = handle(b"GET /ocpp/cp%2D1 HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", c)
    assert c.calls == [("cp-1", {"upgrade": "websocket"})]
    assert w.out.startswith(b"HTTP/1.1 101") and w.closed


def test_refusals():
    c = FakeCentral()
    # bytes after the head: no websocket client sends before the 101
    f, w = handle(b"GET /ocpp/cp1 HTTP/1.1\r\n\r\nEXTRA", c)
    assert c.calls == [] and w.out.startswith(b"HTTP/1.1 400") and f.refused == 1
    f, w = handle(b"POST /ocpp/cp1 HTTP/1.1\r\n\r\n", c)
    assert c.calls == [] and w.out.startswith(b"HTTP/1.1 405")
    f, w = handle(b"GET /other HTTP/1.1\r\n\r\n", c)
    assert w.out.startswith(b"HTTP/1.1 404")
    f, w = handle(b"not http at all\r\n\r\n", c)
    assert w.out.startswith(b"HTTP/1.1 400")
    # a head larger than 2 KB is refused without reading it all into memory
    f, w = handle(b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 5000 + b"\r\n\r\n", c)
    assert w.out.startswith(b"HTTP/1.1 431") and f.refused == 1
    # the connection closed before a head: nothing to answer
    f, w = handle(b"GET / HTT", c)
    assert w.out == b"" and w.closed


def test_pages_get_the_rest():
    seen = []

    async def pages(method, path, headers, body_start, reader, writer):
        # what came with the head starts the body; the rest is still in the stream
        body = body_start
        n = int(headers.get("content-length", "0"))
        while len(body) < n:
            body += await reader.read(n - len(body))
        seen.append((method, path, body))

    handle(b"GET /status HTTP/1.1\r\n\r\n", FakeCentral(), pages)
    handle(b"POST /api HTTP/1.1\r\nContent-Length: 5\r\n\r\n[1,2]", FakeCentral(), pages)
    assert seen == [("GET", "/status", b""), ("POST", "/api", b"[1,2]")]


class TrickleReader:
    """A byte every ``gap_ms``: never idle for long, never done."""

    def __init__(self, gap_ms):
        self.gap_ms = gap_ms

    async def read(self, n):
        from dynevse.aio import sleep_ms
        await sleep_ms(self.gap_ms)
        return b"G"


def test_a_head_that_trickles_in_is_cut_off_at_the_deadline():
    # 1 byte every 50 ms stays under any per-read timeout; the whole head has 300 ms
    from dynevse.aio import ticks_diff, ticks_ms
    t0 = ticks_ms()
    got = asyncio.run(front.read_head(TrickleReader(50), timeout_ms=300))
    took = ticks_diff(ticks_ms(), t0)
    assert got == 408
    assert 250 <= took < 1000, took
