"""A small HTTP front: reads a request head (bounded), hands ``/ocpp/<id>`` upgrades to
the OCPP central system, answers everything else itself.

The always-on OCPP endpoint costs little this way: a request head of at most 2 KB, one
small dict of headers, then the websocket on the same asyncio streams. Pages (setup,
status) are routed through ``pages``, a coroutine ``(method, path, headers, body_start,
reader, writer)`` the app may set (``body_start``: what arrived after the head, the start
of a request body); without it they get 404.
"""
import asyncio

from dynevse import aio, log
from dynevse.compat import const

_HEAD_MAX = const(2048)
_CHUNK = const(256)
_TIMEOUT_S = const(10)
_PENDING_MAX = const(8)      # connections still sending their head; beyond it the oldest is closed
_REASONS = {400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 431: "Request Header Fields Too Large"}


def unquote(s):
    """Percent-decoding of a URL path segment (``%20`` -> space); bad escapes stay as they are."""
    if "%" not in s:
        return s
    out = bytearray()
    b = s.encode()
    i = 0
    while i < len(b):
        if b[i] == 37 and i + 2 < len(b):
            try:
                out.append(int(b[i + 1:i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(b[i])
        i += 1
    return out.decode()


def parse_head(data):
    """(method, path, headers with lower-case names) of a request head, or None."""
    try:
        text = data.decode()
    except UnicodeError:
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        k, sep, v = line.partition(":")
        if not sep or not k or k != k.strip():
            return None
        headers[k.lower()] = v.strip()
    path = parts[1].split("?", 1)[0]
    return parts[0], path, headers


async def read_head(reader, timeout_ms=_TIMEOUT_S * 1000):
    """The request head (bytes up to the blank line) and what came after it, or a status
    code (400, 408, 431) when there is none to answer. The whole head must arrive within
    ``timeout_ms``, however it is cut up (a byte every few seconds does not keep it open)."""
    buf = b""
    t0 = aio.ticks_ms()
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            return buf[:end], buf[end + 4:]
        if len(buf) > _HEAD_MAX:
            return 431
        left_ms = timeout_ms - aio.ticks_diff(aio.ticks_ms(), t0)
        if left_ms <= 0:
            return 408
        try:
            chunk = await aio.wait_for(reader.read(_CHUNK), left_ms / 1000)
        except aio.TimeoutError:
            return 408
        if not chunk:
            return 400
        buf += chunk


async def answer(writer, status, body=""):
    body = body.encode()    # Content-Length counts bytes
    head = "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" \
           % (status, _REASONS.get(status, "Error"), len(body))
    writer.write(head.encode() + body)
    await aio.wait_for(writer.drain(), _TIMEOUT_S)


class Front:
    """Accepts connections on a port; ``central`` is the OCPP central system."""

    def __init__(self, central, pages=None):
        self.central = central
        self.pages = pages
        self.refused = 0
        self.waiting = []        # the tasks of connections whose head has not arrived, oldest first

    async def handle(self, reader, writer):
        me = asyncio.current_task()
        try:
            if len(self.waiting) >= _PENDING_MAX:
                # a flood of idle connections must not take the heap: the oldest goes (a
                # charger sends its head at once, so it is never the oldest for long)
                self.refused += 1
                self.waiting.pop(0).cancel()
            self.waiting.append(me)
            try:
                got = await read_head(reader)
            finally:
                if me in self.waiting:
                    self.waiting.remove(me)
            if isinstance(got, int):
                self.refused += 1
                if got != 400:
                    await answer(writer, got, "request head too large or too slow\n")
                return
            head, rest = got
            req = parse_head(head)
            if req is None:
                self.refused += 1
                await answer(writer, 400, "malformed request\n")
                return
            method, path, headers = req
            if path.startswith("/ocpp/") and self.central is not None:
                if method != "GET" or rest:
                    # a websocket client sends nothing before the 101
                    self.refused += 1
                    await answer(writer, 400 if rest else 405, "expected a websocket upgrade\n")
                    return
                await self.central.serve(unquote(path[6:]), headers, reader, writer)
            elif self.pages is not None:
                await self.pages(method, path, headers, rest, reader, writer)
            else:
                await answer(writer, 404, "not found\n")
        except Exception as e:  # one connection's fault must not reach the others
            log.debug("http: %s: %s", type(e).__name__, e)
        finally:
            try:
                writer.close()
                await aio.wait_for(writer.wait_closed(), 2)
            except Exception:
                pass

    async def serve(self, host, port):
        """Listen for ever (the task is cancelled to stop)."""
        server = await asyncio.start_server(self.handle, host, port)
        try:
            while True:
                await aio.sleep_ms(3600000)
        finally:
            server.close()
