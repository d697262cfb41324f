"""Connecting to the broker: ``login`` (the broker's address, resolved once; CONNECT and
CONNACK), ``connect_packet``, ``connack``. Loaded for a (re)connect and dropped after it
(``client.acall``), so none of it stays in memory while the link just runs.
"""
import asyncio
import socket

from dynevse.aio import wait_for
from dynevse.mqtt.packet import MalformedPacket, _utf8, encode_length

# 3.2.2.3: CONNACK return codes 0..5, "|"-separated (one string is cheaper on the board)
REFUSALS = "accepted|unacceptable protocol version|client id rejected|server unavailable|" \
    "bad user name or password|not authorized"


def connect_packet(client_id, keepalive_s, username="", password="", will_topic="", will=b""):
    """CONNECT (3.1): protocol "MQTT" level 4, clean session; a last will (``will`` on
    ``will_topic``) is retained, QoS 1."""
    flags = 0x02
    payload = _utf8(client_id)
    if will_topic:
        flags |= 0x2C       # will, QoS 1, retained
        payload += _utf8(will_topic) + _utf8(will)
    if username:
        flags |= 0x80
        payload += _utf8(username)
        if password:    # 3.1.2.9: a password needs a user name
            flags |= 0x40
            payload += _utf8(password)
    payload = b"\x00\x04MQTT\x04" + bytes((flags, keepalive_s >> 8, keepalive_s & 0xFF)) + payload
    return b"\x10" + encode_length(len(payload)) + payload


def connack(first, body):
    """CONNACK (3.2) -> (session_present, return_code)."""
    if first != 0x20 or len(body) != 2 or body[0] & 0xFE:
        raise MalformedPacket("CONNACK")
    return bool(body[0]), body[1]


async def login(client):
    """Open ``client``'s connection (its settings, last will, ``open_connection``) and
    log in. Raises OSError when the broker is unknown, unreachable or refuses, and
    MalformedPacket when it does not answer with a CONNACK."""
    cfg = client._cfg
    t = cfg["connect_timeout_s"]
    host = client._addr
    if host is None:
        # Resolve once: getaddrinfo blocks on the board, an IP literal does not.
        host = cfg["host"]
        if not host:
            raise OSError("no broker host configured")
        parts = host.split(".")
        ip = len(parts) == 4
        for p in parts:
            ip = ip and p.isdigit() and int(p) < 256
        if not ip:
            a = socket.getaddrinfo(host, cfg["port"], socket.AF_INET)[0][-1]
            # CPython and the ESP32 port give (ip, port); the unix port a raw sockaddr
            host = a[0] if isinstance(a, tuple) else "%d.%d.%d.%d" % tuple(bytes(a)[4:8])
        client._addr = host
    client._r, client._w = await wait_for((client._open or asyncio.open_connection)(host, cfg["port"]), t)
    await client._write(connect_packet(cfg["client_id"], cfg["keepalive_s"], cfg["username"],
                                       cfg["password"], client._will, b"offline"))
    head = await wait_for(client._r.readexactly(2), t)
    if head[1] != 2:
        raise MalformedPacket("CONNACK expected, got 0x%02x %d" % (head[0], head[1]))
    rc = connack(head[0], await wait_for(client._r.readexactly(2), t))[1]
    if rc:
        r = REFUSALS.split("|")
        raise OSError("broker refused the connection: " + (r[rc] if rc < len(r) else "return code %d" % rc))
