"""MQTT 3.1.1 packets and topic rules, checked against the OASIS specification.

Expected bytes are written out by hand from the spec's packet layouts (section numbers
in the comments), not taken from the encoder. Runs under pytest and MicroPython.
"""
from dualtest import raises
from dynevse.mqtt import connect as CONN
from dynevse.mqtt import packet as P
from dynevse.mqtt.packet import MalformedPacket


def decode_length(bs):
    n = 0
    for i in range(len(bs)):
        n, done = P.add_length_byte(n, i, bs[i])
        if done:
            assert i == len(bs) - 1, "length ended early"
            return n
    raise AssertionError("length not finished")


# 2.2.3 table 2.4: the boundaries of 1, 2, 3 and 4 length bytes
LENGTHS = (
    (0, b"\x00"),
    (127, b"\x7f"),
    (128, b"\x80\x01"),
    (16383, b"\xff\x7f"),
    (16384, b"\x80\x80\x01"),
    (2097151, b"\xff\xff\x7f"),
    (2097152, b"\x80\x80\x80\x01"),
    (268435455, b"\xff\xff\xff\x7f"),
)


def test_remaining_length_boundaries():
    for n, wire in LENGTHS:
        assert P.encode_length(n) == wire, n
        assert decode_length(wire) == n, n


def test_remaining_length_limits():
    raises(ValueError, P.encode_length, 268435456)
    raises(ValueError, P.encode_length, -1)
    # a fourth byte that still says "more follows" is malformed (2.2.3)
    raises(MalformedPacket, decode_length, b"\xff\xff\xff\xff\x01")


def test_connect_minimal():
    # 3.1: 0x10, remaining length, "MQTT" (00 04 M Q T T), level 4, flags 0x02 (clean
    # session), keepalive 60 = 00 3C, then the client id "c1" = 00 02 63 31. 10 + 4 bytes.
    want = b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02c1"
    assert CONN.connect_packet("c1", 60) == want


def test_connect_with_will_user_password():
    # our will is retained at QoS 1:
    # flags: user 0x80, password 0x40, will retain 0x20, will QoS 1 = 0x08, will 0x04,
    # clean 0x02 -> 0xEE. Payload order (3.1.3): client id, will topic, will message,
    # user name, password, each with a 2-byte length.
    body = (b"\x00\x04MQTT\x04\xee\x00\x0a" + b"\x00\x02id" + b"\x00\x01w" + b"\x00\x07offline"
            + b"\x00\x01u" + b"\x00\x02pw")
    want = b"\x10" + bytes((len(body),)) + body
    got = CONN.connect_packet("id", 10, "u", "pw", "w", b"offline")
    assert got == want, got


def test_password_needs_user():
    # 3.1.2.9: without a user name the password flag must be 0, so no password is sent
    got = CONN.connect_packet("id", 10, "", "pw")
    assert got[9] & 0xC0 == 0 and b"pw" not in got[10:]


def test_publish_head_qos0():
    # 3.3: 0x30, remaining = 2 + len("a/b") + 3 payload bytes = 8, topic, no packet id
    assert P.publish_head("a/b", 3) + b"xyz" == b"\x30\x08\x00\x03a/bxyz"


def test_publish_head_qos1_retain_dup():
    # first byte 0x30 | DUP 0x08 | QoS 1 << 1 | RETAIN 1 = 0x3B; remaining 5 + 2 + 3 = 10
    want = b"\x3b\x0a\x00\x03a/b\x00\x0a"
    assert P.publish_head("a/b", 3, 1, True, True, 10) == want


def test_publish_head_long_lengths():
    # the remaining length counts topic, packet id and payload, across 1, 2 and 3 length bytes
    # (2.2.3): 8; 2 + 1 + 2 + 200 = 205 = 0x4D | 0x80, 1; 2 + 100 + 2 + 16300 = 16404 = 0x14 | 0x80, 0x80, 1
    for topic, n, qos, want in (("a/b", 3, 0, b"\x08"), ("t", 200, 1, b"\xcd\x01"),
                                ("x" * 100, 16300, 1, b"\x94\x80\x01")):
        head = P.publish_head(topic, n, qos, False, False, 7)
        assert head[1:1 + len(want)] == want, (topic, head[:4])
        assert len(head) == 1 + len(want) + 2 + len(topic) + (2 if qos else 0)


def test_small_packets():
    # 3.8: SUBSCRIBE has the mandatory flags 0010; pid, filter, requested QoS
    assert P.subscribe(1, "a/+", 1) == b"\x82\x08\x00\x01\x00\x03a/+\x01"
    # 3.10: UNSUBSCRIBE, flags 0010 too; pid, filter (no QoS)
    assert P.subscribe(2, "a/#") == b"\xa2\x07\x00\x02\x00\x03a/#"
    # PINGREQ and DISCONNECT (0xC0 00, 0xE0 00) are checked on the wire in test_mqtt_client


def test_connack_reasons():
    # 3.2.2.3 table 3.1 (the client says "return code N" for anything else)
    r = CONN.REFUSALS.split("|")
    assert len(r) == 6 and r[0] == "accepted"
    assert r[4] == "bad user name or password"
    assert r[5] == "not authorized"


def test_parse_connack():
    # 3.2: CONNACK is 0x20, 2 bytes: acknowledge flags (only bit 0, session present), return code
    assert CONN.connack(0x20, b"\x00\x00") == (False, 0)
    assert CONN.connack(0x20, b"\x01\x05") == (True, 5)
    raises(MalformedPacket, CONN.connack, 0x20, b"\x00")
    raises(MalformedPacket, CONN.connack, 0x20, b"")
    raises(MalformedPacket, CONN.connack, 0x21, b"\x00\x00")    # reserved flags
    raises(MalformedPacket, CONN.connack, 0x20, b"\x02\x00")    # reserved ack bits
    raises(MalformedPacket, CONN.connack, 0x30, b"\x00\x00")    # not a CONNACK
    # once connected, a CONNACK is not an acknowledgement we expect
    raises(MalformedPacket, P.parse_ack, 0x20, b"\x00\x00")


def test_parse_publish_qos1_round_trip():
    head = P.publish_head("x/y", 2, 1, True, False, 258)
    pkt = head + b"hi"
    # skip the first byte and the one length byte
    topic, pid, off, qos, retain = P.parse_publish(pkt[0], pkt[2:])
    assert (topic, pid, qos, retain) == ("x/y", 258, 1, True)
    assert pkt[2:][off:] == b"hi"


def test_parse_publish_rejects():
    raises(MalformedPacket, P.parse_publish, 0x36, b"\x00\x01a\x00\x01")   # QoS 3
    raises(MalformedPacket, P.parse_publish, 0x30, b"\x00")                # no topic length
    raises(MalformedPacket, P.parse_publish, 0x30, b"\x00\x09abc")         # topic runs past the end
    raises(MalformedPacket, P.parse_publish, 0x32, b"\x00\x01a")           # QoS 1 without packet id
    raises(MalformedPacket, P.parse_publish, 0x32, b"\x00\x01a\x00\x00")   # packet id 0 (2.3.1)
    raises(MalformedPacket, P.parse_publish, 0x30, b"\x00\x03a/#")         # wildcard in a topic name
    raises(MalformedPacket, P.parse_publish, 0x30, b"\x00\x02\xff\xfe")    # not UTF-8
    raises(MalformedPacket, P.parse_publish, 0x30, b"\x00\x00")            # empty topic (4.7.3)


def test_parse_acks():
    # PUBACK 0x40 (3.4), UNSUBACK 0xB0 (3.11): exactly the 2-byte packet id
    assert P.parse_ack(0x40, b"\x00\x07") == 7
    assert P.parse_ack(0xB0, b"\x01\x00") == 256
    raises(MalformedPacket, P.parse_ack, 0x41, b"\x00\x07")
    raises(MalformedPacket, P.parse_ack, 0xB1, b"\x00\x07")
    raises(MalformedPacket, P.parse_ack, 0x40, b"\x00\x07\x00")
    # SUBACK 0x90 (3.9): packet id, then one return code per filter: 0, 1, 2 or 0x80
    assert P.parse_ack(0x90, b"\x00\x05\x01\x80") == (5, [1, 0x80])
    raises(MalformedPacket, P.parse_ack, 0x90, b"\x00\x05\x03")   # 3 is no return code
    raises(MalformedPacket, P.parse_ack, 0x90, b"\x00\x05")       # no return code at all
    raises(MalformedPacket, P.parse_ack, 0x91, b"\x00\x05\x00")   # reserved flags
    raises(MalformedPacket, P.parse_ack, 0x50, b"\x00\x05")       # PUBREC: not ours (QoS 2)


def test_filter_validity():
    # 4.7.1.2 and 4.7.1.3
    for f in ("sport/tennis/player1/#", "sport/#", "#", "+", "+/tennis/#", "sport/+/player1", "/+"):
        assert P.valid_topic(f, ""), f
    for f in ("sport/tennis#", "sport/tennis/#/ranking", "sport+", "", "a/\x00"):
        assert not P.valid_topic(f, ""), f
    for t in ("a", "a/b", "/finance", "a//b"):
        assert P.valid_topic(t), t
    for t in ("", "a/+", "a/#", "a\x00b"):
        assert not P.valid_topic(t), t


def test_matching_examples_from_the_spec():
    yes = (
        ("sport/tennis/player1/#", "sport/tennis/player1"),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking"),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"),
        ("sport/#", "sport"),
        ("sport/tennis/+", "sport/tennis/player1"),
        ("sport/+", "sport/"),
        ("+/+", "/finance"),
        ("/+", "/finance"),
        ("$SYS/#", "$SYS/broker/load"),
        ("a/b", "a/b"),
    )
    no = (
        ("sport/tennis/+", "sport/tennis/player1/ranking"),
        ("sport/+", "sport"),
        ("+", "/finance"),
        ("#", "$SYS/broker/load"),              # 4.7.2: wildcards don't match $ topics
        ("+/monitor/Clients", "$SYS/monitor/Clients"),
        ("a/b", "a/b/c"),
        ("a/b/c", "a/b"),
    )
    for f, t in yes:
        assert P.matches(f, t), (f, t)
    for f, t in no:
        assert not P.matches(f, t), (f, t)
