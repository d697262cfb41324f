"""Asyncio MQTT 3.1.1 client that never blocks the event loop, on both runtimes.

Why our own: micropython-lib's ``umqtt.simple`` blocks on connect and on every read,
which would stall the OCPP sessions and the control loop whenever the broker is slow
or gone; its PyPI packages can't be installed with pip for CPython either.

One supervisor task (``run``) owns the connection: it connects (with
``connect.login``, loaded for that and dropped after), starts the reader task, and then every
``_POLL_MS`` writes what is waiting and keeps the time (keepalive, QoS 1 resends, the
tick for the application) until the connection is lost; then it cancels the reader,
closes the socket and reconnects after a backoff that doubles up to ``backoff_max_s``.
Every socket operation has a timeout; the host name is resolved once. Application code
never awaits the network: ``publish`` puts the message on a bounded queue (the oldest
is dropped when it is full) and returns; the supervisor sends it within a poll. It is
the only writer (the reader and ``stop`` hand it the acknowledgements and the goodbye),
so writes never interleave.

Memory: one task besides the supervisor, no buffers beyond the packet being handled,
which no frame keeps once it is handled, and no ``wait_for`` while idle.

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
import sys

from dynevse.aio import forget, loaded, ticks_ms, ticks_diff, sleep_ms, wait_for
from dynevse.compat import const
from dynevse.mqtt import packet as P

_INFLIGHT = const(4)
_TRIES = const(3)
_CHUNK = const(256)            # discard oversized packets this many bytes at a time
_READ_S = const(10)            # rest of a packet once its first byte has arrived
_STABLE_MS = const(10000)      # a connection up this long resets the backoff
_POLL_MS = const(100)          # the supervisor looks at the connection this often

# counters: an index each into Client.n, named by ``counters.CLIENT`` in this order
_CONNECTS = const(0)
_FAILURES = const(1)
_LOST = const(2)
_MALFORMED = const(3)
_DEAD = const(4)
_OVERSIZED = const(5)
_REJECTED = const(6)
_RESENT = const(7)
_RX = const(8)
_TX = const(9)
_CB_ERRORS = const(10)
_SUB_REFUSED = const(11)
_UNEXPECTED = const(12)
_DROPPED = const(13)


def call(names, fn, *args):
    """``fn`` of module ``names[0]`` called with the modules ``names`` (as for
    ``aio.loaded``) loaded just for it: those that were not loaded before are dropped after."""
    before = loaded(names)
    try:
        __import__(names[0])
        return getattr(sys.modules[names[0]], fn)(*args)
    finally:
        forget([n for n in loaded(names) if n not in before])


async def acall(names, fn, *args):
    """``call`` for a coroutine function: awaited while its modules are loaded."""
    before = loaded(names)
    try:
        __import__(names[0])
        return await getattr(sys.modules[names[0]], fn)(*args)
    finally:
        forget([n for n in loaded(names) if n not in before])


class Client:
    """An MQTT connection kept up by ``run()``; see the module docstring.

    ``cfg`` is ``config.check_mqtt`` output (kept, not copied). ``will_topic`` is the
    availability topic. ``on_message(topic, payload, retained)`` (payload: bytes or a
    memoryview, valid during the call), ``on_connect()`` and ``on_tick()`` (about once a
    second while connected) are called from the connection's tasks; exceptions they
    raise are counted, never propagated. ``open_connection(host, port)`` defaults to
    ``asyncio.open_connection``.
    """

    _open = None                    # open_connection, when not asyncio's

    def __init__(self, cfg, will_topic, clock=ticks_ms, open_connection=None):
        self._cfg = cfg
        self._will = will_topic
        self._clock = clock
        if open_connection:
            self._open = open_connection
        self.state = "stopped"
        self.last_error = ""
        self.n = [0] * 14           # counters, named by counters.CLIENT
        self.on_message = self.on_connect = self.on_tick = None
        self._subs = []             # filter, qos, sent on this connection; filter, ...
        self._q = []                # (topic, payload, retain, qos) waiting for the supervisor
        self._ctl = []              # packets to write before anything else (acks, pings, ...)
        self._inflight = []         # [pid, topic, payload, retain, sent_ms or None (due), sends]
        self._pid = 0
        self._r = self._w = self._addr = None
        self._ok = self._stop = self._ping_out = False
        self._last_rx = self._last_tx = 0

    # ---- what the application calls -------------------------------------------

    def connected(self):
        return self.state == "connected"

    def publish(self, topic, payload, retain=False, qos=0):
        """Queue a message; never waits. False (and counted as rejected) if it can't be sent."""
        if isinstance(payload, str):
            payload = payload.encode()
        if qos not in (0, 1) or not P.valid_topic(topic) \
                or len(P.publish_head(topic, len(payload), qos)) + len(payload) > self._cfg["max_packet"]:
            self.n[_REJECTED] += 1
            return False
        q = self._q
        if len(q) >= self._cfg["queue_len"]:
            q.pop(0)
            self.n[_DROPPED] += 1
        q.append((topic, payload, retain, qos))
        return True

    def room(self):
        """Can a message be queued without dropping an older one?"""
        return len(self._q) < self._cfg["queue_len"]

    async def flushed(self):
        """Wait until every queued message has been written to the socket."""
        while self._q:
            await sleep_ms(10)

    def subscribe(self, topic_filter, qos=0):
        """Subscribe now and after every reconnect."""
        if not P.valid_topic(topic_filter, "") or qos not in (0, 1):
            raise ValueError("bad subscription %r qos %r" % (topic_filter, qos))
        if topic_filter not in self._subs[::3]:
            self._subs += (topic_filter, qos, False)

    def unsubscribe(self, topic_filter):
        s = self._subs
        for i in range(0, len(s), 3):
            if s[i] == topic_filter:
                if s[i + 2] and self.connected():
                    self._ctl.append(P.subscribe(self._next_pid(), topic_filter))
                del s[i:i + 3]
                return

    def status(self):
        """Connection state and counters for the status page (a new dict)."""
        return call(("dynevse.mqtt.counters",), "client_status", self)

    async def run(self):
        """The supervisor: keep the connection up until ``stop()``."""
        cfg = self._cfg
        n = self.n
        q = self._q
        lo = int(cfg["backoff_min_s"] * 1000)
        hi = int(cfg["backoff_max_s"] * 1000)
        ka = cfg["keepalive_s"] * 1000
        tick = ka // 4 if ka < 4000 else 1000
        ack_ms = int(cfg["ack_timeout_s"] * 1000)
        delay = lo
        self._stop = False
        while not self._stop:
            self.state = "connecting"
            self._ok = True         # before connecting, so that a stop() meanwhile is seen
            reader = None
            try:
                await acall(("dynevse.mqtt.connect",), "login", self)
                self._last_rx = self._last_tx = up = t = self._clock()
                self._ping_out = False
                self._ctl = []
                s = self._subs
                for i in range(2, len(s), 3):
                    s[i] = False    # subscribe again
                for e in self._inflight:
                    e[4] = None     # send again
                await self._write(P.publish_head(self._will, 6, 0, True) + b"online")
                n[_CONNECTS] += 1
                self.last_error = ""
                self.state = "connected"
                reader = asyncio.create_task(self._reader())
                self._call(self.on_connect)
                while self._ok:
                    # the only writer: acknowledgements, pings and the goodbye first, then
                    # subscriptions, due resends and the queue
                    while self._ctl:
                        await self._write(self._ctl.pop(0))
                    if self._stop:
                        break
                    i = 2
                    while i < len(s):
                        if not s[i]:
                            s[i] = True
                            await self._write(P.subscribe(self._next_pid(), s[i - 2], s[i - 1]))
                            i = -1  # the list may have changed meanwhile: look again
                        i += 3
                    for e in list(self._inflight):
                        if e[4] is None:
                            e[5] += 1
                            e[4] = self._clock()
                            await self._write(P.publish_head(e[1], len(e[2]), 1, e[3], e[5] > 1, e[0]), e[2])
                    m = None
                    while q and len(self._inflight) < _INFLIGHT and self._ok:
                        m = q[0]
                        pid = 0
                        if m[3]:
                            pid = self._next_pid()
                            self._inflight.append([pid, m[0], m[1], m[2], self._clock(), 1])
                        await self._write(P.publish_head(m[0], len(m[1]), m[3], m[2], False, pid), m[1])
                        if q and q[0] is m:
                            q.pop(0)
                        n[_TX] += 1
                    # soon again after a message (discovery sends one at a time), else a poll;
                    # the last message is not kept while waiting
                    i = 10 if m else _POLL_MS
                    e = m = None
                    await sleep_ms(i)
                    now = self._clock()
                    if ticks_diff(now, t) >= tick:
                        t = now
                        quiet = ticks_diff(now, self._last_rx)
                        if quiet >= ka:
                            n[_DEAD] += 1
                            raise OSError("no answer from broker for %d s" % (quiet // 1000))
                        if not self._ping_out and (quiet >= ka // 2 or ticks_diff(now, self._last_tx) >= ka // 2):
                            self._ping_out = True
                            self._ctl.append(b"\xc0\x00")    # PINGREQ (3.12)
                        for e in self._inflight:
                            if e[4] is not None and ticks_diff(now, e[4]) >= ack_ms:
                                if e[5] >= _TRIES:
                                    raise OSError("no PUBACK after %d sends" % e[5])
                                e[4] = None     # due: sent again
                                n[_RESENT] += 1
                        e = None
                        self._call(self.on_tick)
            except Exception as e:
                if reader is None:
                    n[_FAILURES] += 1
                    if isinstance(e, P.MalformedPacket):
                        n[_MALFORMED] += 1
                    self._note(e)
                else:
                    self._fail(e)
            s = e = m = None
            if reader is not None:
                reader.cancel()
                reader = None
                if not self._stop:
                    n[_LOST] += 1
                if ticks_diff(self._clock(), up) >= _STABLE_MS:
                    delay = lo
            w = self._w
            self._r = self._w = None
            if w is not None:
                try:
                    w.close()
                except Exception:
                    pass
            w = None
            if self._stop:
                break
            self.state = "waiting"
            await sleep_ms(delay)
            delay = min(delay * 2, hi)
        self.state = "stopped"

    async def stop(self):
        """Say offline (a clean DISCONNECT suppresses the will), disconnect, end ``run``."""
        self._stop = True
        if self.connected():
            self._ctl.append(P.publish_head(self._will, 7, 0, True) + b"offline\xe0\x00")
            for i in range(30):     # the supervisor writes it within a poll (or gives up)
                if not self._ctl:
                    break
                await sleep_ms(_POLL_MS)
        self._ok = False

    # ---- the connection --------------------------------------------------------

    def _note(self, e):
        self.last_error = (str(e) or type(e).__name__)[:120]

    def _call(self, cb, *args):
        if cb is not None:
            try:
                cb(*args)
            except Exception as e:
                self.n[_CB_ERRORS] += 1
                self._note(e)

    def _fail(self, e):
        # the connection is unusable: the supervisor closes it and reconnects
        if self._ok:
            if isinstance(e, P.MalformedPacket):
                self.n[_MALFORMED] += 1
                e = "malformed packet from broker: %s" % e
            elif isinstance(e, EOFError):
                e = "broker closed the connection"
            self._note(e)
            self._ok = False

    def _next_pid(self):
        while True:
            self._pid = self._pid % 65535 + 1
            for e in self._inflight:
                if e[0] == self._pid:
                    break
            else:
                return self._pid

    async def _write(self, data, payload=None):
        w = self._w
        if w is None:
            raise OSError("not connected")
        w.write(data)
        if payload:
            w.write(payload)
        data = payload = None       # a finished frame must not keep the message
        await wait_for(w.drain(), self._cfg["connect_timeout_s"])
        self._last_tx = self._clock()

    async def _reader(self):
        try:
            r = self._r
            n = self.n
            while True:
                first = (await r.readexactly(1))[0]
                size = i = 0
                done = False
                while not done:
                    size, done = P.add_length_byte(size, i, (await wait_for(r.readexactly(1), _READ_S))[0])
                    i += 1
                self._last_rx = self._clock()
                kind = first & 0xF0
                if size > self._cfg["max_packet"]:
                    # too big to hold: skip it in small pieces (only a PUBLISH may be big)
                    if kind != 0x30:
                        raise P.MalformedPacket("%d bytes of type %d" % (size, first >> 4))
                    n[_OVERSIZED] += 1
                    i = min(size, _CHUNK)
                    body = await wait_for(r.readexactly(i), _READ_S)
                    size -= i
                    pid = 0
                    if first & 6 == 2:      # QoS 1: its packet id follows the topic
                        off = 2 + ((body[0] << 8) | body[1])
                        if off + 2 <= i:
                            pid = (body[off] << 8) | body[off + 1]
                    while size:
                        body = None
                        i = min(size, _CHUNK)
                        body = await wait_for(r.readexactly(i), _READ_S)
                        size -= i
                    if pid:                 # acknowledged all the same
                        self._ctl.append(bytes((0x40, 2, pid >> 8, pid & 0xFF)))
                elif kind == 0x30:
                    body = await wait_for(r.readexactly(size), _READ_S)
                    topic, pid, off, qos, retain = P.parse_publish(first, body)
                    if qos == 2:
                        raise P.MalformedPacket("QoS 2 PUBLISH on a QoS 0/1 subscription")
                    if qos:                 # PUBACK (3.4), written by the supervisor
                        self._ctl.append(bytes((0x40, 2, pid >> 8, pid & 0xFF)))
                    n[_RX] += 1
                    s = self._subs
                    for i in range(0, len(s), 3):
                        if P.matches(s[i], topic):
                            self._call(self.on_message, topic, memoryview(body)[off:], retain)
                            break
                    else:
                        # never asked for: a broker mix-up must not reach the app as a command
                        n[_UNEXPECTED] += 1
                    s = None
                else:
                    body = await wait_for(r.readexactly(size), _READ_S) if size else b""
                    if first == 0xD0 and not body:
                        self._ping_out = False
                    elif kind == 0x40:
                        pid = P.parse_ack(first, body)
                        for e in self._inflight:
                            if e[0] == pid:
                                self._inflight.remove(e)
                                break
                        e = None
                    elif kind == 0x90:
                        if 0x80 in P.parse_ack(first, body)[1]:
                            n[_SUB_REFUSED] += 1
                            self._note("broker refused a subscription")
                    elif kind == 0xB0:
                        P.parse_ack(first, body)
                    else:
                        raise P.MalformedPacket("type %d" % (first >> 4))
                self._last_rx = self._clock()
                body = topic = None     # don't keep the last message while waiting
        except Exception as e:
            self._fail(e)
