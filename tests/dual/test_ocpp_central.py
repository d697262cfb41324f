"""Who may connect: upgrade checks, unknown ids (remembered, bounded), Basic auth, the
subprotocol, and the handshake on an in-memory stream.

Runs under pytest and on the MicroPython unix port (tests/dual/run.py).
"""
import asyncio
import binascii

from dualtest import raises
from dynevse.ocpp import accept
from dynevse.ocpp.accept import basic_auth_ok
from dynevse.ocpp.central import CentralSystem
from dynevse.ocpp.ws import WebSocket
from test_ocpp_session import FakeClock
from test_ocpp_ws import Streams, server_frames, close_code, text, frame

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def headers(**extra):
    h = {"Upgrade": "websocket", "Connection": "keep-alive, Upgrade", "Sec-WebSocket-Key": KEY,
         "Sec-WebSocket-Version": "13", "Sec-WebSocket-Protocol": "ocpp1.6"}
    for k in extra:
        h[k.replace("_", "-")] = extra[k]
    return h


def basic(user, password):
    return "Basic " + binascii.b2a_base64((user + ":" + password).encode())[:-1].decode()


def central(clock=None):
    return CentralSystem({}, [{"id": "CP1"}, {"id": "CP2", "password": "s3cret:pw"}], clock or FakeClock())


def test_a_known_charger_may_upgrade():
    cs = central()
    assert accept.refusal(cs, "CP1", headers()) is None
    # header names in any case
    lower = {}
    h = headers()
    for k in h:
        lower[k.lower()] = h[k]
    assert accept.refusal(cs, "CP1", lower) is None


def test_not_a_websocket_upgrade():
    cs = central()
    assert accept.refusal(cs, "CP1", {})[1] == 400
    assert accept.refusal(cs, "CP1", headers(Upgrade="h2c"))[1] == 400
    r = accept.refusal(cs, "CP1", headers(Sec_WebSocket_Version="8"))
    assert r[1] == 426 and r[2] == {"Sec-WebSocket-Version": "13"}


def test_unknown_ids_are_refused_and_remembered_bounded():
    clock = FakeClock(ms=1000)
    cs = central(clock)
    assert accept.refusal(cs, "Stranger", headers())[1] == 404
    clock.ms = 3000
    accept.refusal(cs, "Stranger", headers())
    assert cs.unknown == [["Stranger", 2, 3000]]
    for i in range(10):
        accept.refusal(cs, "X%d" % i, headers())
    # eight remembered, the least recently seen dropped first
    assert len(cs.unknown) == 8 and cs.unknown[0][0] == "X2" and cs.unknown[-1][0] == "X9"
    accept.refusal(cs, "X2", headers())
    assert cs.unknown[-1][:2] == ["X2", 2]
    accept.refusal(cs, "L" * 300, headers())
    assert cs.unknown[-1][0] == "L" * 48
    assert cs.counters["refused_unknown"] == 14


def test_basic_auth():
    cs = central()
    assert accept.refusal(cs, "CP2", headers())[1] == 401
    r = accept.refusal(cs, "CP2", headers(Authorization=basic("CP2", "wrong")))
    assert r[1] == 401 and r[2]["WWW-Authenticate"].startswith("Basic")
    assert accept.refusal(cs, "CP2", headers(Authorization=basic("CP1", "s3cret:pw")))[1] == 401   # user is the id
    assert accept.refusal(cs, "CP2", headers(Authorization=basic("CP2", "s3cret:pw"))) is None
    assert cs.counters["refused_auth"] == 3
    # a charger without a password ignores what it is sent
    assert accept.refusal(cs, "CP1", headers(Authorization=basic("CP1", "whatever"))) is None
    for bad in ("", "Bearer abc", "Basic", "Basic !!!notbase64", "Basic " + "QUJD"):
        assert not basic_auth_ok(bad, "CP2", "s3cret:pw"), bad
    assert basic_auth_ok("basic " + basic("CP2", "s3cret:pw")[6:], "CP2", "s3cret:pw")


def test_a_board_short_of_memory_refuses_at_the_door():
    # The heap cannot take a connection's setup (ADMIT_FREE_B bytes free after a
    # collection): the charger is refused with 503 and a Retry-After, says so in its log,
    # and keeps its last or fallback profile while it tries again. One byte more is enough.
    cs = central()
    free = [accept.ADMIT_FREE_B - 1]
    cs.mem_free = lambda: free[0]
    r = accept.refusal(cs, "CP1", headers())
    assert r[1] == 503 and r[2] == {"Retry-After": "10"}, r
    assert cs.counters["refused_memory"] == 1
    log = "\n".join(cs.charger("CP1").log)
    assert "refused a connection: %d bytes of heap free" % (accept.ADMIT_FREE_B - 1) in log, log
    # the answer goes out as HTTP/1.1 with its reason phrase, and nothing is served
    out = serve(cs, "CP1", headers(), text('[2, "h1", "Heartbeat", {}]'))
    assert out.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and b"Retry-After: 10\r\n" in out, out
    assert cs.charger("CP1").connected is False
    free[0] = accept.ADMIT_FREE_B
    assert accept.refusal(cs, "CP1", headers()) is None
    # an unknown id or a wrong password is told so whatever the heap
    free[0] = 0
    assert accept.refusal(cs, "Stranger", headers())[1] == 404
    assert accept.refusal(cs, "CP2", headers())[1] == 401
    assert cs.counters["refused_memory"] == 2


def serve(cs, cp_id, h, data=b""):
    s = Streams(data)
    asyncio.run(cs.serve(cp_id, h, s, s))
    return bytes(s.out)


def test_handshake_answers_with_ocpp16():
    cs = central()
    out = serve(cs, "CP1", headers(), text('[2, "h1", "Heartbeat", {}]'))
    head, _, rest = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols")
    assert b"Sec-WebSocket-Protocol: ocpp1.6" in head
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
    frames = server_frames(rest)
    assert frames[0][0] == 1 and frames[0][1].startswith(b'[3, "h1", {"currentTime": ')
    # the input ended: the charger is disconnected again
    assert cs.charger("CP1").connected is False


def test_no_ocpp_subprotocol_is_closed_right_after_the_handshake():
    cs = central()
    for offer in (None, "ocpp2.0.1", "soap"):
        h = headers()
        if offer is None:
            del h["Sec-WebSocket-Protocol"]
        else:
            h["Sec-WebSocket-Protocol"] = offer
        out = serve(cs, "CP1", h, text('[2, "h1", "Heartbeat", {}]'))
        head, _, rest = out.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101") and b"Sec-WebSocket-Protocol" not in head
        frames = server_frames(rest)
        assert len(frames) == 1 and frames[0][0] == 8 and close_code(frames[0][1]) == 1002
    assert cs.counters["refused_protocol"] == 3
    assert cs.charger("CP1").vendor is None


def test_a_connection_dropped_while_a_message_arrives_is_still_closed():
    # A newer connection of the same charger ends this one from outside while a message is
    # arriving on it. CPython 3.11's wait_for can swallow a cancel that meets arriving
    # data, so the handler must not depend on the cancel alone: it closes with 1001.
    for yields in range(6):          # every interleaving of the arrival and the drop
        cs = CentralSystem({"boot_wait_s": 60}, [{"id": "R"}], FakeClock())
        s = cs.charger("R")
        streams = Streams(hold=True)
        ws = WebSocket(streams, streams, 1024, 0.2)

        async def scenario():
            handler = asyncio.create_task(s.run_connection(ws))
            for _ in range(3):
                await asyncio.sleep(0)
            streams.feed(text('[2, "h", "Heartbeat", {}]'))
            for _ in range(yields):
                await asyncio.sleep(0)
            s._drop(ws, 1001, "replaced")
            await asyncio.wait_for(handler, 5)     # the handler ends: it did not hang

        asyncio.run(scenario())
        frames = server_frames(streams.out)
        assert frames and frames[-1][0] == 8 and close_code(frames[-1][1]) == 1001, (yields, frames)


def test_a_silent_charger_is_pinged_then_disconnected():
    # ws_ping_interval_s: pinged when silent this long, disconnected (1001) when silent
    # three times as long. Pre-validated settings are taken as given: 0.2 s for the test.
    from dynevse.config.check import check_central
    cfg, chargers = check_central({"boot_wait_s": 60}, [{"id": "Q"}])
    cfg["ws_ping_interval_s"] = 0.2
    cs = CentralSystem(cfg, chargers, FakeClock(), checked=True)
    s = cs.charger("Q")
    streams = Streams(hold=True)
    ws = WebSocket(streams, streams, 1024, 1)

    async def scenario():
        handler = asyncio.create_task(s.run_connection(ws))
        await asyncio.sleep(0.3)
        assert [f[0] for f in server_frames(streams.out)] == [9]      # one ping so far
        streams.feed(frame(10, b""))        # the pong: not silent any more
        await asyncio.sleep(0.4)
        assert s.connected                  # 0.4 s since the pong: under three intervals
        await asyncio.wait_for(handler, 5)
        await asyncio.sleep(0.3)
        return cs._watching

    watching = asyncio.run(scenario())
    frames = server_frames(streams.out)
    assert frames[-1][0] == 8 and close_code(frames[-1][1]) == 1001, frames
    assert [f[0] for f in frames].count(9) >= 2     # pinged again while silent
    assert not s.connected and any("silent for" in line for line in s.log), s.log
    assert "disconnected (1001)" in s.log[-1]
    assert not watching                 # the watch ends with the last connection


def test_checked_settings_are_taken_as_they_are():
    # validation is a boot-time step: with checked settings the central system imports
    # nothing of the configuration package (the app forgets it after boot)
    import sys
    from dynevse.config.check import check_central
    cfg, chargers = check_central({"log_lines": 5}, [{"id": "A"}, {"id": "B", "phases": 1}])
    saved = {}
    for name in ("dynevse.config.check", "dynevse.config.schema"):
        if name in sys.modules:
            saved[name] = sys.modules.pop(name)
    try:
        cs = CentralSystem(cfg, chargers, FakeClock(), None, checked=True)
        assert "dynevse.config.check" not in sys.modules and "dynevse.config.schema" not in sys.modules
    finally:
        sys.modules.update(saved)
    assert cs.ids == ["A", "B"] and cs.charger("B").opts is chargers[1] and cs.config is cfg
    # unchecked settings are validated (and named in the error)
    from dynevse.config.schema import ConfigError
    e = raises(ConfigError, CentralSystem, {"log_lines": -1}, [{"id": "A"}], FakeClock())
    assert e.field == "ocpp.log_lines"
    e = raises(ConfigError, CentralSystem, {}, [{"id": "A", "phases": 2}], FakeClock())
    assert e.field == "chargers[0].phases"
