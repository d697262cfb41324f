"""Asyncio MQTT 3.1.1 client that never blocks the event loop, on both runtimes.

Why our own: micropython-lib's ``umqtt.simple`` blocks on connect and on every read,
which would stall the OCPP sessions and the control loop whenever the broker is slow
or gone; its PyPI packages can't be installed with pip for CPython either.

One supervisor task (``run``) owns the connection: it connects, starts the three
per-connection tasks (reader, keepalive, sender), waits until any of them reports the
link lost, cancels them together, closes the socket and reconnects after a backoff
that doubles up to ``backoff_max_s``. Every socket operation has a timeout; the host
name is resolved once. Application code never awaits the network: ``publish`` puts the
message on a bounded queue (the oldest is dropped when it is full) and returns.

- Keepalive: a PINGREQ when nothing was received (or sent) for half the keepalive; the
  broker is declared dead when nothing at all was received for a whole keepalive.
- QoS 1: at most ``_INFLIGHT`` unacknowledged messages; one without PUBACK after
  ``ack_timeout_s`` is resent with DUP set; after ``_TRIES`` sends the link is dropped.
  Unacknowledged messages are resent after a reconnect.
- Subscriptions are remembered and sent again after every reconnect.
- Incoming packets are bounded by ``max_packet``: a longer PUBLISH is read in small
  chunks and thrown away (counted as ``oversized``); anything malformed drops the link.
- The last will is the availability topic with ``offline``, retained; ``online`` is
  published (retained) right after every CONNACK.
"""
import asyncio
import socket

from dynevse.aio import ticks_ms, ticks_diff, sleep_ms, wait_for, BoundedQueue
from dynevse.compat import const
from dynevse.mqtt import packet as P

_INFLIGHT = const(4)
_TRIES = const(3)
_CHUNK = const(256)            # discard oversized packets this many bytes at a time
_READ_TIMEOUT_S = 10           # rest of a packet once its first byte has arrived
_STABLE_MS = const(10000)      # a connection up this long resets the backoff

ONLINE = b"online"
OFFLINE = b"offline"


class NotConnected(OSError):
    pass


class LinkLost(Exception):
    """The connection is unusable; the supervisor reconnects."""


def _is_ipv4(host):
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p.isdigit() or int(p) > 255:
            return False
    return True


def _ip_of(sockaddr):
    # CPython and the ESP32 port give (ip, port); the unix port gives a raw sockaddr
    if isinstance(sockaddr, tuple):
        return sockaddr[0]
    b = bytes(sockaddr)
    return "%d.%d.%d.%d" % (b[4], b[5], b[6], b[7])


class Client:
    """An MQTT connection kept up by ``run()``; see the module docstring.

    ``cfg`` is ``config.check_mqtt`` output. ``will_topic`` is the availability topic.
    ``on_message(topic, payload_bytes, retained)`` and ``on_connect()`` are called from
    the connection's tasks; exceptions they raise are counted, never propagated.
    ``open_connection(host, port)`` defaults to ``asyncio.open_connection``.
    """

    def __init__(self, cfg, will_topic, clock=ticks_ms, open_connection=None):
        self._cfg = cfg
        self._will = will_topic
        self._clock = clock
        self._open = open_connection or asyncio.open_connection
        self._ka_ms = cfg["keepalive_s"] * 1000
        self._max = cfg["max_packet"]
        self.state = "stopped"
        self.last_error = ""
        self.counters = {
            "connects": 0, "connect_failures": 0, "links_lost": 0, "malformed": 0,
            "dead_broker": 0, "oversized": 0, "rejected": 0, "resent": 0,
            "rx": 0, "tx": 0, "callback_errors": 0, "sub_refused": 0, "unexpected": 0,
        }
        self.on_message = None
        self.on_connect = None
        self._subs = []             # [filter, qos, sent on this connection]
        self._unsubs = []
        self._queue = BoundedQueue(cfg["queue_len"])
        self._inflight = []         # [pid, topic, payload, retain, sent_ms or None (due), sends]
        self._pid = 0
        self._lock = asyncio.Lock()
        self._r = self._w = None
        self._lost = asyncio.Event()
        self._wake = asyncio.Event()
        self._flushed = asyncio.Event()
        self._flushed.set()
        self._addr = None
        self._stop = False
        self._ping_out = False
        self._up_ms = 0
        self._last_rx = self._last_tx = 0

    # ---- what the application calls -------------------------------------------

    def connected(self):
        return self.state == "connected"

    def publish(self, topic, payload, retain=False, qos=0):
        """Queue a message; never waits. False (and counted as rejected) if it can't be sent."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if qos not in (0, 1) or not P.valid_topic(topic) \
                or P.publish_size(topic, len(payload), qos) > self._max:
            self.counters["rejected"] += 1
            return False
        self._queue.put((topic, payload, retain, qos))
        self._flushed.clear()
        self._wake.set()
        return True

    async def flushed(self):
        """Wait until every queued message has been written to the socket."""
        while not self._flushed.is_set():
            await self._flushed.wait()

    def subscribe(self, topic_filter, qos=0):
        """Subscribe now and after every reconnect."""
        if not P.valid_filter(topic_filter) or qos not in (0, 1):
            raise ValueError("bad subscription %r qos %r" % (topic_filter, qos))
        for s in self._subs:
            if s[0] == topic_filter:
                return
        self._subs.append([topic_filter, qos, False])
        self._wake.set()

    def unsubscribe(self, topic_filter):
        for s in self._subs:
            if s[0] == topic_filter:
                self._subs.remove(s)
                if s[2] and self.connected():
                    self._unsubs.append(topic_filter)
                    self._wake.set()
                return

    def status(self):
        """Connection state and counters for the status page (a new dict)."""
        d = dict(self.counters)
        d["state"] = self.state
        d["last_error"] = self.last_error
        d["reconnects"] = self.counters["connects"] - 1 if self.counters["connects"] > 1 else 0
        d["queued"] = len(self._queue)
        d["dropped"] = self._queue.dropped
        d["inflight"] = len(self._inflight)
        return d

    async def run(self):
        """The supervisor: keep the connection up until ``stop()``."""
        lo = int(self._cfg["backoff_min_s"] * 1000)
        hi = int(self._cfg["backoff_max_s"] * 1000)
        delay = lo
        self._stop = False
        while not self._stop:
            self.state = "connecting"
            self._lost.clear()      # before connecting, so that a stop() meanwhile is seen
            try:
                await self._connect()
            except Exception as e:
                self._close()
                self.counters["connect_failures"] += 1
                if isinstance(e, P.MalformedPacket):
                    self.counters["malformed"] += 1
                self._note(e)
                self.state = "waiting"
                await sleep_ms(delay)
                delay = min(delay * 2, hi)
                continue
            tasks = [asyncio.create_task(self._guard(self._reader())),
                     asyncio.create_task(self._guard(self._keepalive())),
                     asyncio.create_task(self._guard(self._sender()))]
            if self.on_connect is not None:
                try:
                    self.on_connect()
                except Exception as e:
                    self.counters["callback_errors"] += 1
                    self._note(e)
            await self._lost.wait()
            for t in tasks:
                t.cancel()
            self._close()
            self.state = "stopped" if self._stop else "waiting"
            if self._stop:
                break
            self.counters["links_lost"] += 1
            if ticks_diff(self._clock(), self._up_ms) >= _STABLE_MS:
                delay = lo
            await sleep_ms(delay)
            delay = min(delay * 2, hi)
        self.state = "stopped"

    async def stop(self):
        """Say offline (a clean DISCONNECT suppresses the will), disconnect, end ``run``."""
        self._stop = True
        if self.connected():
            try:
                await self._write(P.publish_head(self._will, len(OFFLINE), 0, True), OFFLINE,
                                  P.DISCONNECT_PACKET)
            except Exception:
                pass
        self._lost.set()

    # ---- the connection --------------------------------------------------------

    def _note(self, e):
        msg = str(e) or type(e).__name__
        self.last_error = msg[:120]

    def _next_pid(self):
        while True:
            self._pid = self._pid % 65535 + 1
            used = False
            for e in self._inflight:
                if e[0] == self._pid:
                    used = True
            if not used:
                return self._pid

    def _resolve(self):
        # Resolve once: getaddrinfo blocks on the board, an IP literal does not.
        if self._addr is None:
            host = self._cfg["host"]
            if not host:
                raise NotConnected("no broker host configured")
            if _is_ipv4(host):
                self._addr = host
            else:
                self._addr = _ip_of(socket.getaddrinfo(host, self._cfg["port"], socket.AF_INET)[0][-1])
        return self._addr

    async def _connect(self):
        cfg = self._cfg
        t = cfg["connect_timeout_s"]
        host = self._resolve()
        self._r, self._w = await wait_for(self._open(host, cfg["port"]), t)
        await self._write(P.connect(cfg["client_id"], cfg["keepalive_s"], cfg["username"],
                                    cfg["password"], self._will, OFFLINE, True, 1))
        head = await wait_for(self._r.readexactly(2), t)
        if head[1] != 2:
            raise P.MalformedPacket("expected CONNACK, got type 0x%02x length byte %d" % (head[0], head[1]))
        present, rc = P.parse_connack(head[0], await wait_for(self._r.readexactly(2), t))
        if rc:
            raise NotConnected("broker refused the connection: " + P.connack_reason(rc))
        now = self._clock()
        self._last_rx = self._last_tx = self._up_ms = now
        self._ping_out = False
        self._unsubs = []
        for s in self._subs:
            s[2] = False
        for e in self._inflight:
            e[4] = None
        await self._write(P.publish_head(self._will, len(ONLINE), 0, True), ONLINE)
        self.counters["connects"] += 1
        self.last_error = ""
        self.state = "connected"
        self._wake.set()

    def _close(self):
        w = self._w
        self._r = self._w = None
        if w is not None:
            try:
                w.close()
            except Exception:
                pass

    async def _write(self, *parts):
        async with self._lock:
            w = self._w
            if w is None:
                raise NotConnected("not connected")
            for p in parts:
                w.write(p)
            await wait_for(w.drain(), self._cfg["connect_timeout_s"])
            self._last_tx = self._clock()

    async def _guard(self, coro):
        try:
            await coro
        except Exception as e:
            if not self._lost.is_set():
                if isinstance(e, P.MalformedPacket):
                    self.counters["malformed"] += 1
                    self._note("malformed packet from broker: %s" % e)
                elif isinstance(e, EOFError):
                    self._note("broker closed the connection")
                else:
                    self._note(e)
                self._lost.set()

    async def _reader(self):
        r = self._r
        while True:
            first = (await r.readexactly(1))[0]
            n = 0
            i = 0
            done = False
            while not done:
                b = (await wait_for(r.readexactly(1), _READ_TIMEOUT_S))[0]
                n, done = P.add_length_byte(n, i, b)
                i += 1
            self._last_rx = self._clock()
            if n > self._max:
                await self._discard(first, n)
                continue
            body = await wait_for(r.readexactly(n), _READ_TIMEOUT_S) if n else b""
            self._last_rx = self._clock()
            await self._dispatch(first, body)

    async def _discard(self, first, n):
        if first & 0xF0 != P.PUBLISH:
            raise P.MalformedPacket("a %d byte packet of type %d" % (n, first >> 4))
        self.counters["oversized"] += 1
        r = self._r
        k = min(n, _CHUNK)
        chunk = await wait_for(r.readexactly(k), _READ_TIMEOUT_S)
        n -= k
        pid = 0
        qos = (first >> 1) & 3
        if qos == 1 and len(chunk) >= 2:
            off = 2 + ((chunk[0] << 8) | chunk[1])
            if off + 2 <= len(chunk):
                pid = (chunk[off] << 8) | chunk[off + 1]
        chunk = None
        while n:
            k = min(n, _CHUNK)
            await wait_for(r.readexactly(k), _READ_TIMEOUT_S)
            n -= k
        self._last_rx = self._clock()
        if pid:
            await self._write(P.puback(pid))

    async def _dispatch(self, first, body):
        kind = first & 0xF0
        if kind == P.PUBLISH:
            topic, pid, off, qos, retain = P.parse_publish(first, body)
            if qos == 2:
                raise P.MalformedPacket("QoS 2 PUBLISH on a QoS 0/1 subscription")
            if qos:
                await self._write(P.puback(pid))
            self.counters["rx"] += 1
            cb = self.on_message
            for s in self._subs:
                if P.matches(s[0], topic):
                    break
            else:
                # never asked for: a broker mix-up must not reach the app as a command
                self.counters["unexpected"] += 1
                cb = None
            if cb is not None:
                try:
                    cb(topic, body[off:], retain)
                except Exception as e:
                    self.counters["callback_errors"] += 1
                    self._note(e)
        elif kind == P.PUBACK:
            pid = P.parse_ack(first, body)
            for e in self._inflight:
                if e[0] == pid:
                    self._inflight.remove(e)
                    self._wake.set()
                    break
        elif kind == P.SUBACK:
            pid, codes = P.parse_suback(first, body)
            if 0x80 in codes:
                self.counters["sub_refused"] += 1
                self._note("broker refused a subscription")
        elif kind == P.UNSUBACK:
            P.parse_ack(first, body)
        elif first == P.PINGRESP and not body:
            self._ping_out = False
        else:
            raise P.MalformedPacket("unexpected packet type %d from broker" % (first >> 4))

    async def _keepalive(self):
        ka = self._ka_ms
        tick = ka // 4 if ka < 4000 else 1000
        ack_ms = int(self._cfg["ack_timeout_s"] * 1000)
        while True:
            await sleep_ms(tick)
            now = self._clock()
            quiet = ticks_diff(now, self._last_rx)
            if quiet >= ka:
                self.counters["dead_broker"] += 1
                raise LinkLost("no answer from broker for %d s" % (quiet // 1000))
            if not self._ping_out and (quiet >= ka // 2 or ticks_diff(now, self._last_tx) >= ka // 2):
                self._ping_out = True
                await self._write(P.PINGREQ_PACKET)
            for e in self._inflight:
                if e[4] is not None and ticks_diff(now, e[4]) >= ack_ms:
                    if e[5] >= _TRIES:
                        raise LinkLost("no PUBACK after %d sends" % e[5])
                    e[4] = None
                    self.counters["resent"] += 1
                    self._wake.set()

    async def _sender(self):
        while True:
            for s in list(self._subs):
                if not s[2]:
                    s[2] = True
                    await self._write(P.subscribe(self._next_pid(), s[0], s[1]))
            while self._unsubs:
                await self._write(P.unsubscribe(self._next_pid(), self._unsubs.pop(0)))
            for e in list(self._inflight):
                if e[4] is None:
                    e[5] += 1
                    e[4] = self._clock()
                    await self._write(P.publish_head(e[1], len(e[2]), 1, e[3], e[5] > 1, e[0]), e[2])
            if len(self._queue) and len(self._inflight) < _INFLIGHT:
                topic, payload, retain, qos = await self._queue.get()
                pid = 0
                if qos:
                    pid = self._next_pid()
                    self._inflight.append([pid, topic, payload, retain, self._clock(), 1])
                await self._write(P.publish_head(topic, len(payload), qos, retain, False, pid), payload)
                self.counters["tx"] += 1
                continue
            if not len(self._queue):
                self._flushed.set()
            self._wake.clear()
            await self._wake.wait()
