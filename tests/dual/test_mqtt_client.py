"""The asyncio MQTT client against a tiny scripted broker on a loopback socket.

A fake broker is the point here: it can misbehave on cue (malformed packets, silence,
no PUBACK, refused login, oversized messages), which Mosquitto never does. The real
broker tests are in tests/mqtt. Runs under pytest and MicroPython.
"""
import asyncio

from dynevse.aio import ticks_ms, ticks_diff, sleep_ms
from dynevse.config import check as C
from dynevse.mqtt import packet as P
from dynevse.mqtt import counters
from dynevse.mqtt.client import Client

WILL = "t/status"
# packet types (first byte of the fixed header, 2.2.1), written out from the specification
CONNECT = 0x10
PUBLISH = 0x30
PUBACK = 0x40
SUBSCRIBE = 0x82
UNSUBSCRIBE = 0xA2
PINGREQ = 0xC0
DISCONNECT = 0xE0


def run(coro):
    asyncio.new_event_loop()    # MicroPython: forget tasks a previous test left behind
    return asyncio.run(coro)


async def until(pred, timeout_ms=5000, what="condition"):
    t0 = ticks_ms()
    while not pred():
        if ticks_diff(ticks_ms(), t0) > timeout_ms:
            raise AssertionError("timed out waiting for " + what)
        await sleep_ms(10)


def settings(**kw):
    s = {"host": "127.0.0.1", "keepalive_s": 2, "backoff_min_s": 0.05, "backoff_max_s": 0.2,
         "ack_timeout_s": 0.5, "connect_timeout_s": 2, "max_packet": 1024}
    s.update(kw)
    return s


class FakeBroker:
    """Accepts connections, records every packet as (connection number, first byte, body)
    and answers like a broker unless ``script(broker, conn, first, body)`` returns bytes
    to send instead (b"" for silence)."""

    def __init__(self, script=None):
        self.script = script
        self.packets = []
        self.conns = 0
        self.writers = []
        self.port = None
        self.server = None

    async def start(self):
        base = 20000 + (ticks_ms() * 7919) % 30000
        for i in range(50):
            try:
                self.server = await asyncio.start_server(self._serve, "127.0.0.1", base + i)
                self.port = base + i
                return self
            except OSError:
                pass
        raise AssertionError("no free port")

    async def close(self):
        for w in self.writers:
            try:
                w.close()
            except Exception:
                pass
        self.server.close()
        await self.server.wait_closed()

    def of(self, kind, conn=None):
        return [p for p in self.packets if p[1] & 0xF0 == kind & 0xF0 and (conn is None or p[0] == conn)]

    async def send(self, data, conn=None):
        w = self.writers[(conn or self.conns) - 1]
        w.write(data)
        await w.drain()

    async def _serve(self, r, w):
        self.conns += 1
        conn = self.conns
        self.writers.append(w)
        try:
            while True:
                first = (await r.readexactly(1))[0]
                n = 0
                i = 0
                done = False
                while not done:
                    n, done = P.add_length_byte(n, i, (await r.readexactly(1))[0])
                    i += 1
                body = await r.readexactly(n) if n else b""
                self.packets.append((conn, first, body))
                reply = self.script(self, conn, first, body) if self.script else None
                if reply is None:
                    reply = self.answer(first, body)
                if reply:
                    w.write(reply)
                    await w.drain()
        except Exception:
            pass
        try:
            w.close()
        except Exception:
            pass

    def answer(self, first, body):
        kind = first & 0xF0
        if kind == CONNECT:
            return b"\x20\x02\x00\x00"
        if kind == SUBSCRIBE:
            return bytes((0x90, 3, body[0], body[1], body[-1]))
        if kind == UNSUBSCRIBE:
            return bytes((0xB0, 2, body[0], body[1]))
        if kind == PUBLISH and (first >> 1) & 3 == 1:
            _t, pid, _o, _q, _r = P.parse_publish(first, body)
            return bytes((PUBACK, 2, pid >> 8, pid & 0xFF))     # 3.4
        if kind == PINGREQ:
            return b"\xd0\x00"
        return b""


def topic_of(p):
    return P.parse_publish(p[1], p[2])[0]


def payload_of(p):
    t, pid, off, q, r = P.parse_publish(p[1], p[2])
    return p[2][off:]


async def start(broker, **kw):
    c = Client(C.check_mqtt(settings(port=broker.port, **kw), "dev1"), WILL)
    got = []
    c.on_message = lambda topic, payload, retained: got.append((topic, bytes(payload), retained))
    task = asyncio.create_task(c.run())
    return c, task, got


async def finish(c, task, broker):
    await c.stop()
    await until(lambda: c.state == "stopped", 3000, "client to stop")
    await broker.close()


def test_connect_subscribe_publish_and_receive():
    async def main():
        b = await FakeBroker().start()
        c, task, got = await start(b, username="u", password="pw")
        c.subscribe("in/+/x", 1)
        await until(c.connected, what="CONNACK")
        await until(lambda: b.of(SUBSCRIBE), what="SUBSCRIBE")
        connect = b.of(CONNECT)[0][2]
        # variable header: protocol name, level 4, flags: user, password, will retain,
        # will QoS 1, will, clean = 0xEE, keepalive 2 s
        assert connect[:10] == b"\x00\x04MQTT\x04\xee\x00\x02"
        assert b"dynevse-dev1" in connect and WILL.encode() in connect and b"offline" in connect
        # first thing after CONNACK: online, retained
        pubs = b.of(PUBLISH)
        assert topic_of(pubs[0]) == WILL and payload_of(pubs[0]) == b"online" and pubs[0][1] & 1
        assert b.of(SUBSCRIBE)[0][2][2:] == b"\x00\x06in/+/x\x01"
        assert c.publish("out/a", "hello", retain=True)
        assert c.publish("out/b", b"\x00\x01", qos=1)
        await until(lambda: len(b.of(PUBLISH)) == 3 and not c.status()["inflight"], what="publishes acked")
        p1, p2 = b.of(PUBLISH)[1:]
        assert (topic_of(p1), payload_of(p1), p1[1]) == ("out/a", b"hello", 0x31)
        assert (topic_of(p2), payload_of(p2), p2[1]) == ("out/b", b"\x00\x01", 0x32)
        # a topic we never subscribed to is not handed over (a broker mix-up is no command)
        await b.send(P.publish_head("in/7/y", 3, 0) + b"bad")
        # the broker delivers a QoS 1 message: we get it once and acknowledge its packet id
        await b.send(P.publish_head("in/7/x", 3, 1, False, False, 300) + b"abc")
        await until(lambda: got, what="delivery")
        assert got == [("in/7/x", b"abc", False)]
        await until(lambda: [p for p in b.of(PUBACK) if p[2] == b"\x01\x2c"], what="PUBACK 300")
        assert c.status()["unexpected"] == 1
        await c.stop()
        # a clean stop says offline itself and disconnects (so the broker drops the will)
        await until(lambda: b.of(DISCONNECT), 3000, "DISCONNECT")
        assert payload_of(b.of(PUBLISH)[-1]) == b"offline"
        assert b.of(DISCONNECT)[0][1:] == (0xE0, b"")        # 3.14: E0 00
        await finish(c, task, b)
    run(main())


def test_qos1_is_resent_with_dup_until_acknowledged():
    def script(b, conn, first, body):
        if first & 0xF0 == PUBLISH and (first >> 1) & 3 == 1 and not first & 0x08:
            return b""      # swallow the first send without PUBACK
        return None

    async def main():
        b = await FakeBroker(script).start()
        c, task, got = await start(b)
        await until(c.connected)
        c.publish("q/1", b"x", qos=1)
        await until(lambda: len([p for p in b.of(PUBLISH) if topic_of(p) == "q/1"]) == 2,
                    3000, "resend")
        first, again = [p for p in b.of(PUBLISH) if topic_of(p) == "q/1"]
        pid = P.parse_publish(first[1], first[2])[1]
        # 3.3.1.1: the resend has DUP set and the same packet id
        assert first[1] == 0x32 and again[1] == 0x3A
        assert P.parse_publish(again[1], again[2])[1] == pid
        await until(lambda: not c.status()["inflight"], what="ack")
        assert c.status()["resent"] == 1 and b.conns == 1
        await finish(c, task, b)
    run(main())


GARBAGE = (
    b"\x00\x00",                        # packet type 0 is reserved
    b"\xf0\x00",                        # packet type 15 is reserved
    b"\x20\x02\x00\x00",                # a second CONNACK
    b"\x36\x05\x00\x01a\x00\x01",       # PUBLISH with QoS 3
    b"\x30\xff\xff\xff\xff\x01",        # remaining length of 5 bytes
    b"\x30\x03\x00\x09a",               # topic length beyond the packet
    b"\x30\x05\x00\x03a/#",             # wildcard in a delivered topic
    b"\xd0\x01\x00",                    # PINGRESP with a body
    b"\x90\x03\x00\x01\x03",            # SUBACK return code 3
    b"\x41\x02\x00\x01",                # PUBACK with reserved flags
    b"\x90\x88\x27" + b"\x00" * 5000,   # 5000-byte SUBACK: only PUBLISH may be big
    b"\x82\x03\x00\x01\x00",            # SUBSCRIBE sent to a client
)


def test_malformed_packets_drop_the_link_and_it_comes_back():
    async def main():
        b = await FakeBroker().start()
        c, task, got = await start(b)
        ticks = []

        async def control_loop():     # stands in for the control loop: must keep its period
            while True:
                ticks.append(ticks_ms())
                await sleep_ms(50)
        loop = asyncio.create_task(control_loop())
        for i in range(len(GARBAGE)):
            await until(lambda: c.connected() and b.conns == i + 1, 3000, "connection %d" % (i + 1))
            await until(lambda: b.of(PUBLISH, i + 1), 3000, "online")
            await b.send(GARBAGE[i])
            await until(lambda: c.status()["malformed"] == i + 1, 3000, "drop on garbage %d" % i)
        await until(lambda: c.connected() and b.conns == len(GARBAGE) + 1, 3000, "last reconnect")
        loop.cancel()
        gaps = [ticks_diff(ticks[k + 1], ticks[k]) for k in range(len(ticks) - 1)]
        assert max(gaps) < 500, max(gaps)
        st = c.status()
        assert st["links_lost"] == len(GARBAGE) and st["reconnects"] == len(GARBAGE)
        assert "malformed" in st["last_error"] or st["state"] == "connected"
        # each fresh connection subscribes again... and nothing was handed to the app
        assert got == []
        await finish(c, task, b)
    run(main())


def test_a_silent_broker_is_declared_dead():
    def script(b, conn, first, body):
        if conn == 1 and first == PINGREQ:
            return b""          # the first broker never answers a ping
        return None

    async def main():
        b = await FakeBroker(script).start()
        c, task, got = await start(b, keepalive_s=2)
        await until(c.connected)
        t0 = ticks_ms()
        await until(lambda: b.conns == 2 and c.connected(), 6000, "reconnect after silence")
        waited = ticks_diff(ticks_ms(), t0)
        # ping after 1 s of silence, dead after 2 s without anything received
        assert b.of(PINGREQ, 1), "pinged"
        assert [p[1:] for p in b.of(PINGREQ, 1)][0] == (0xC0, b"")  # 3.12: C0 00
        assert 1500 <= waited <= 5000, waited
        assert c.status()["dead_broker"] == 1
        await finish(c, task, b)
    run(main())


def test_oversized_publish_is_skipped_and_acknowledged():
    async def main():
        b = await FakeBroker().start()
        c, task, got = await start(b, max_packet=512)
        c.subscribe("big/#", 1)
        await until(lambda: b.of(SUBSCRIBE))
        await b.send(P.publish_head("big/1", 5000, 1, False, False, 77) + b"x" * 5000)
        await b.send(P.publish_head("big/2", 2, 0) + b"ok")
        await until(lambda: got, what="the small message")
        assert got == [("big/2", b"ok", False)]
        st = c.status()
        assert st["oversized"] == 1 and st["malformed"] == 0 and b.conns == 1
        # QoS 1: acknowledged all the same, or the broker would send it again and again
        await until(lambda: [p for p in b.of(PUBACK) if p[2] == b"\x00\x4d"], 3000, "PUBACK 77")
        await finish(c, task, b)
    run(main())


def test_refused_login_with_an_unknown_code():
    def script(b, conn, first, body):
        if first == CONNECT:
            return b"\x20\x02\x00\x09"      # not in 3.2.2.3 table 3.1
        return None

    async def main():
        b = await FakeBroker(script).start()
        c, task, got = await start(b)
        await until(lambda: c.status()["connect_failures"] >= 1, 5000, "refusal")
        assert "refused" in c.status()["last_error"] and "return code 9" in c.status()["last_error"]
        await finish(c, task, b)
    run(main())


def test_refused_login_backs_off_and_says_why():
    def script(b, conn, first, body):
        if first == CONNECT:
            return b"\x20\x02\x00\x04"      # 3.2.2.3: 4 = bad user name or password
        return None

    async def main():
        b = await FakeBroker(script).start()
        c, task, got = await start(b, backoff_min_s=0.05, backoff_max_s=0.2)
        await until(lambda: b.conns >= 4, 5000, "retries")
        st = c.status()
        assert st["connects"] == 0 and st["connect_failures"] >= 3
        assert "bad user name or password" in st["last_error"]
        assert not c.connected()
        await finish(c, task, b)
    run(main())


def test_nothing_listening_is_retried_without_blocking():
    async def main():
        b = await FakeBroker().start()
        port = b.port
        await b.close()
        c = Client(C.check_mqtt(settings(port=port), "dev1"), WILL)
        task = asyncio.create_task(c.run())
        ticks = []
        for i in range(20):
            ticks.append(ticks_ms())
            await sleep_ms(50)
        gaps = [ticks_diff(ticks[k + 1], ticks[k]) for k in range(len(ticks) - 1)]
        assert max(gaps) < 500, gaps
        assert c.status()["connect_failures"] >= 2 and not c.connected()
        await c.stop()
        await until(lambda: c.state == "stopped", 3000)
    run(main())


def test_reconnect_resubscribes_and_resends_unacknowledged():
    def script(b, conn, first, body):
        if conn == 1 and first & 0xF0 == PUBLISH and (first >> 1) & 3 == 1:
            for w in b.writers:
                w.close()           # the broker goes away with the message unacknowledged
            return b""
        return None

    async def main():
        b = await FakeBroker(script).start()
        c, task, got = await start(b)
        c.subscribe("cmd/#", 1)
        await until(lambda: b.of(SUBSCRIBE, 1))
        c.publish("q/keep", b"1", qos=1)
        await until(lambda: b.conns == 2 and b.of(SUBSCRIBE, 2), 3000, "resubscribe")
        await until(lambda: [p for p in b.of(PUBLISH, 2) if topic_of(p) == "q/keep"], 3000, "resend")
        again = [p for p in b.of(PUBLISH, 2) if topic_of(p) == "q/keep"][0]
        assert again[1] & 0x08, "sent again with DUP"
        await until(lambda: not c.status()["inflight"])
        await finish(c, task, b)
    run(main())


def test_publish_refuses_what_cannot_be_sent_and_queue_drops_oldest():
    c = Client(C.check_mqtt(settings(port=1, queue_len=2, max_packet=512), "dev1"), WILL)
    assert not c.publish("a/#", b"x")
    assert not c.publish("", b"x")
    assert not c.publish("a", b"x" * 600)
    assert not c.publish("a", b"x", qos=2)
    # 512 bytes on the wire at most: 1 type + 2 length bytes + 2 + 1 topic (+ 2 packet id)
    assert not c.publish("a", b"x" * 507)
    assert not c.publish("a", b"x" * 505, qos=1)
    assert c.status()["rejected"] == 6
    assert c.publish("a", b"x" * 504, qos=1) and c.publish("a", b"x" * 506)
    c = Client(C.check_mqtt(settings(port=1, queue_len=2, max_packet=512), "dev1"), WILL)
    # every counter has its name on the status page
    assert len(counters.CLIENT.split()) == len(c.n) and sorted(c.status()) == sorted(
        counters.CLIENT.split() + ["state", "last_error", "reconnects", "queued", "inflight"])
    for i in range(3):
        assert c.publish("a", b"%d" % i)
    st = c.status()
    assert st["queued"] == 2 and st["dropped"] == 1


def test_a_host_name_is_resolved_once():
    # the module stays loaded while the test holds it, so its socket can be replaced
    from dynevse.mqtt import connect as client_module
    real = client_module.socket
    calls = []

    class CountingSocket:
        AF_INET = real.AF_INET

        @staticmethod
        def getaddrinfo(*args):
            calls.append(args[0])
            return real.getaddrinfo(*args)

    async def main():
        b = await FakeBroker().start()
        c, task, got = await start(b, host="localhost")
        await until(c.connected, what="connect by name")
        await b.send(b"\x00\x00")     # garbage: the link drops; the reconnect must not ask DNS again
        await until(lambda: b.conns == 2 and c.connected(), 3000, "reconnect")
        await finish(c, task, b)

    client_module.socket = CountingSocket
    try:
        run(main())
    finally:
        client_module.socket = real
    # getaddrinfo blocks on the board: once for the first connect, never again
    assert calls == ["localhost"]
