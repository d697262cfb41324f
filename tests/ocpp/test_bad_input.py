"""Bad input on a live connection, under CPython and the MicroPython unix port: each gets
the answer OCPP-J 1.6 / RFC 6455 names, and a second charger connected at the same time
(WITNESS, a real ``ocpp`` charge point) is still served.
"""
import asyncio
import base64
import json
import os

import websockets

from ocpp_peer import Connected, TS

RECV_TIMEOUT_S = 30


def run(coro):
    asyncio.run(asyncio.wait_for(coro, 120))


async def answer(ws, uid):
    """The next CALLRESULT/CALLERROR for ``uid``; the central system's own CALLs are skipped."""
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S))
        if msg[0] in (3, 4):
            return msg


async def still_served(server, witness):
    """The witness charger gets answers and limits as before."""
    r = await witness.heartbeat()
    assert r.current_time.endswith("Z")
    assert await server.command("WITNESS", "set_limit", 10, 3) == "Accepted"
    assert (await server.charger("WITNESS"))["connected"]


async def with_bad_charger(server, body):
    """Connect WITNESS (booted) and a raw websocket as BAD, run ``body(bad_ws)``, then check
    that WITNESS is still served. Returns what body returned."""
    async with Connected(server, "WITNESS") as witness:
        await witness.boot()
        ws = await websockets.connect(server.url("BAD"), subprotocols=["ocpp1.6"], open_timeout=30,
                                      max_size=None, ping_interval=None)
        try:
            result = await body(ws)
        finally:
            await ws.close()
        await still_served(server, witness)
        return result


async def dropped(server):
    return (await server.charger("BAD"))["counters"]["dropped"]


def check_callerror(server, text, uid, code):
    async def body(ws):
        await ws.send(text)
        msg = await answer(ws, uid)
        assert msg[:3] == [4, uid, code], msg
        assert isinstance(msg[3], str) and msg[4] == {}
        # the connection goes on: a good CALL is answered
        await ws.send(json.dumps([2, "ok-1", "Heartbeat", {}]))
        assert (await answer(ws, "ok-1"))[:2] == [3, "ok-1"]

    run(with_bad_charger(server, body))


def test_invalid_json(server):
    check_callerror(server, '[2, "j1", "Heartbeat", {"x": ', "j1", "FormationViolation")


def test_not_an_array_is_dropped_and_counted(server):
    async def body(ws):
        before = await dropped(server)
        for text in ('{"messageTypeId": 2}', '"just text"', "42"):
            await ws.send(text)
        await ws.send(json.dumps([2, "ok-2", "Heartbeat", {}]))
        # no answer to the three: the first answer that comes is the heartbeat's
        assert (await answer(ws, "ok-2"))[:2] == [3, "ok-2"]
        assert await dropped(server) == before + 3

    run(with_bad_charger(server, body))


def test_wrong_message_type_id(server):
    check_callerror(server, '[7, "t1", "Heartbeat", {}]', "t1", "FormationViolation")


def test_unknown_action(server):
    check_callerror(server, '[2, "a1", "MakeCoffee", {}]', "a1", "NotImplemented")


def test_action_only_a_central_system_sends(server):
    check_callerror(server, '[2, "a2", "SetChargingProfile", {}]', "a2", "NotSupported")


def test_wrong_field_types(server):
    check_callerror(server, json.dumps([2, "f1", "StatusNotification",
                                        {"connectorId": "1", "errorCode": "NoError", "status": "Available"}]),
                    "f1", "TypeConstraintViolation")
    check_callerror(server, json.dumps([2, "f2", "StartTransaction",
                                        {"connectorId": 1, "idTag": "T", "meterStart": 1.5, "timestamp": TS}]),
                    "f2", "TypeConstraintViolation")


def test_missing_fields(server):
    check_callerror(server, json.dumps([2, "m1", "BootNotification", {"chargePointVendor": "V"}]),
                    "m1", "ProtocolError")


def test_value_out_of_range_and_empty_list(server):
    check_callerror(server, json.dumps([2, "v1", "StatusNotification",
                                        {"connectorId": 1, "errorCode": "NoError", "status": "Dancing"}]),
                    "v1", "PropertyConstraintViolation")
    check_callerror(server, json.dumps([2, "v2", "MeterValues", {"connectorId": 1, "meterValue": []}]),
                    "v2", "OccurenceConstraintViolation")


def expect_close(server, send, code):
    async def body(ws):
        await send(ws)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S)
        except websockets.ConnectionClosed:
            pass
        assert ws.close_code == code, ws.close_code

    run(with_bad_charger(server, body))


def test_frame_over_the_size_limit_is_closed_with_1009(server):
    # the test server allows 4096-byte messages
    async def send(ws):
        await ws.send(json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "d" * 5000}]))
    expect_close(server, send, 1009)


def test_frames_far_over_the_size_limit_get_the_1009_close_not_a_reset(server):
    # 70 KB and 200 KB (the test server allows 4096 bytes): the board sends its close
    # frame at once, reads and drops the rest of the frame, and ends the connection with
    # the close handshake. Closing a socket with unread data resets it: the charger then
    # sees no close frame at all (close code 1006), which is what main did.
    for size in (70 * 1024, 200 * 1024):
        async def send(ws, size=size):
            await ws.send(json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "d" * size}]))
        expect_close(server, send, 1009)


def test_unique_id_beyond_the_bmp_is_answered_in_valid_utf8(server):
    # JSON escapes a character beyond the BMP as a UTF-16 surrogate pair; the answer has
    # to carry the same id, encoded as UTF-8 (MicroPython's json keeps the two halves as
    # two characters, whose encoding no UTF-8 decoder takes: websockets would close with
    # 1007 instead of giving us the answer)
    async def body(ws):
        await ws.send('[2, "id-\\ud83d\\ude00", "Heartbeat", {}]')
        msg = await answer(ws, None)
        assert msg[:2] == [3, "id-\U0001F600"], msg
        # an action name beyond the BMP is answered in valid UTF-8 as well
        await ws.send('[2, "a-\\ud83d\\ude00", "Caf\\u00e9\\ud83d\\ude00", {}]')
        msg = await answer(ws, None)
        assert msg[:3] == [4, "a-\U0001F600", "NotImplemented"], msg
        # a lone half is no character: it comes back as U+FFFD (the charger's id is
        # invalid whichever way it is read)
        await ws.send('[2, "h-\\ud83d", "Heartbeat", {}]')
        msg = await answer(ws, None)
        assert msg[:2] == [3, "h-\ufffd"], msg

    run(with_bad_charger(server, body))


def test_binary_frame_is_closed_with_1003(server):
    async def send(ws):
        await ws.send(b'[2, "b1", "Heartbeat", {}]')
    expect_close(server, send, 1003)


def test_fragmented_message_is_assembled(server):
    async def body(ws):
        await ws.send(['[2, "frag-1", ', '"Heartbeat", ', "{}]"])    # three frames, one message
        msg = await answer(ws, "frag-1")
        assert msg[:2] == [3, "frag-1"] and "currentTime" in msg[2]

    run(with_bad_charger(server, body))


def test_one_hundred_calls_without_waiting(server):
    async def body(ws):
        for i in range(100):
            await ws.send(json.dumps([2, "h%d" % i, "Heartbeat", {}]))
        got = [(await answer(ws, None))[:2] for _ in range(100)]
        assert got == [[3, "h%d" % i] for i in range(100)]

    run(with_bad_charger(server, body))


async def raw_upgrade(server, cp_id):
    """A TCP connection upgraded by hand (for frames websockets will not send)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(("GET /ocpp/%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n" % (cp_id, key)).encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), RECV_TIMEOUT_S)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def read_close_code(reader):
    """Read server frames until a close frame; its status code."""
    while True:
        b0, b1 = await asyncio.wait_for(reader.readexactly(2), RECV_TIMEOUT_S)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await reader.readexactly(8), "big")
        payload = await reader.readexactly(n)
        if b0 & 0x0F == 8:
            return int.from_bytes(payload[:2], "big")


def test_unmasked_client_frame_is_closed_with_1002(server):
    async def scenario():
        async with Connected(server, "WITNESS") as witness:
            await witness.boot()
            reader, writer = await raw_upgrade(server, "BAD")
            body = b'[2, "u1", "Heartbeat", {}]'
            writer.write(bytes([0x81, len(body)]) + body)      # no mask bit: clients must mask
            assert await read_close_code(reader) == 1002
            writer.close()
            await still_served(server, witness)

    run(scenario())


def test_connection_closed_in_the_middle_of_a_frame(server):
    async def scenario():
        async with Connected(server, "WITNESS") as witness:
            await witness.boot()
            reader, writer = await raw_upgrade(server, "BAD")
            await server.wait_charger("BAD", lambda c: c["connected"])
            # a frame announcing 100 bytes, mask, and only 10 of them; then the TCP connection ends
            writer.write(bytes([0x81, 0x80 | 100]) + b"\x01\x02\x03\x04" + b"x" * 10)
            await writer.drain()
            writer.close()
            c = await server.wait_charger("BAD", lambda c: not c["connected"])
            assert any("disconnected (1006)" in line for line in c["log"]), c["log"]
            await still_served(server, witness)

    run(scenario())
