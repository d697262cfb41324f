"""The setup access point's DNS server: every name resolves to the board (wildcard DNS),
so a phone's connectivity check reaches the setup portal and opens it by itself.

Runs only in setup (the safe state). One UDP socket, non-blocking, looked at every
100 ms: MicroPython's asyncio has no datagram streams, and setup has nothing else to do.
A query that is not one plain question gets no answer; sizes are bounded (512 bytes).
"""
import socket

from dynevse import log
from dynevse.aio import sleep_ms
from dynevse.compat import const

_MAX = const(512)
_POLL_MS = const(100)


def answer(query, address):
    """The response to a DNS ``query`` (bytes) giving ``address`` ("a.b.c.d") for its one
    question, or None for anything else (a response, several questions, a short packet)."""
    if len(query) < 17 or query[2] & 0x80 or query[2] & 0x78 or query[4:6] != b"\x00\x01":
        return None
    end = 12
    while end < len(query) and query[end]:      # the question's name, label by label
        if query[end] > 63:
            return None
        end += query[end] + 1
    end += 5                                    # the zero label, QTYPE, QCLASS
    if end > len(query):
        return None
    ip = bytes([int(x) for x in address.split(".")])
    return (query[:2] + b"\x81\x80" + b"\x00\x01\x00\x01\x00\x00\x00\x00" + query[12:end]
            + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + ip)


async def serve(port, address):
    """Answer on UDP ``port`` for ever with ``address()`` (cancelled to stop)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo("0.0.0.0", port)[0][-1])
        s.setblocking(False)
        log.info("setup DNS: every name is this board (UDP port %d)", port)
        while True:
            try:
                query, peer = s.recvfrom(_MAX)
            except OSError:
                await sleep_ms(_POLL_MS)
                continue
            reply = answer(query, address())
            if reply is not None:
                try:
                    s.sendto(reply, peer)
                except OSError:
                    pass
    finally:
        s.close()
