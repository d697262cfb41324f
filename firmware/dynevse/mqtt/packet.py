"""MQTT 3.1.1 packets and topic rules, without I/O.

Encoders return bytes ready to write; a PUBLISH is written as ``publish_head(...)``
followed by the payload, so a large payload is never copied into a second buffer.
Decoders take the first byte of the fixed header and the packet body (everything after
the remaining length) and raise MalformedPacket for anything the 3.1.1 specification
does not allow; the client then drops the connection.

Section numbers in comments refer to the OASIS MQTT 3.1.1 specification.
"""
from dynevse.compat import const

CONNECT = const(0x10)
CONNACK = const(0x20)
PUBLISH = const(0x30)
PUBACK = const(0x40)
SUBSCRIBE = const(0x82)      # 3.8.1: flags 0010 are mandatory
SUBACK = const(0x90)
UNSUBSCRIBE = const(0xA2)    # 3.10.1: flags 0010 are mandatory
UNSUBACK = const(0xB0)
PINGREQ = const(0xC0)
PINGRESP = const(0xD0)
DISCONNECT = const(0xE0)

MAX_REMAINING = const(268435455)   # 2.2.3: four length bytes of 7 bits
_SUB_FAILURE = const(0x80)

# 3.2.2.3: CONNACK return codes 0..5, "|"-separated (one string is cheaper on the board)
_REFUSALS = "accepted|unacceptable protocol version|client id rejected|server unavailable|" \
    "bad user name or password|not authorized"
PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"


def connack_reason(rc):
    """Words for a CONNACK return code."""
    r = _REFUSALS.split("|")
    return r[rc] if 0 <= rc < len(r) else "return code %d" % rc


class MalformedPacket(ValueError):
    """The peer sent something MQTT 3.1.1 does not allow; the connection must be dropped."""


def encode_length(n):
    """The remaining-length field (2.2.3): 1 to 4 bytes, 7 bits each, low bits first."""
    if n < 0 or n > MAX_REMAINING:
        raise ValueError("remaining length out of range: %d" % n)
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def add_length_byte(value, index, b):
    """Fold length byte number ``index`` (0-based) into ``value``.

    Returns (value, done). A fourth byte with the continuation bit set is malformed.
    """
    value |= (b & 0x7F) << (7 * index)
    if b & 0x80:
        if index >= 3:
            raise MalformedPacket("remaining length longer than 4 bytes")
        return value, False
    return value, True


def _utf8(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    if len(b) > 65535:
        raise ValueError("string longer than 65535 bytes")
    return bytes((len(b) >> 8, len(b) & 0xFF)) + b


def _u16(n):
    return bytes((n >> 8, n & 0xFF))


def connect(client_id, keepalive_s, username="", password="",
            will_topic="", will_payload=b"", will_retain=False, will_qos=0, clean=True):
    """CONNECT (3.1): protocol "MQTT" level 4."""
    flags = 0x02 if clean else 0
    body = bytearray(_utf8("MQTT"))
    payload = bytearray(_utf8(client_id))
    if will_topic:
        flags |= 0x04 | (will_qos << 3) | (0x20 if will_retain else 0)
        payload += _utf8(will_topic)
        payload += _utf8(will_payload)
    if username:
        flags |= 0x80
        payload += _utf8(username)
        if password:    # 3.1.2.9: a password needs a user name
            flags |= 0x40
            payload += _utf8(password)
    body.append(4)
    body.append(flags)
    body += _u16(keepalive_s)
    body += payload
    return bytes((CONNECT,)) + encode_length(len(body)) + bytes(body)


def publish_size(topic, payload_len, qos):
    """Bytes a PUBLISH takes on the wire, fixed header included."""
    n = 2 + len(topic.encode("utf-8")) + (2 if qos else 0) + payload_len
    return 1 + len(encode_length(n)) + n


def publish_head(topic, payload_len, qos=0, retain=False, dup=False, pid=0):
    """Everything of a PUBLISH (3.3) before its payload."""
    first = PUBLISH | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    t = _utf8(topic)
    n = len(t) + (2 if qos else 0) + payload_len
    head = bytes((first,)) + encode_length(n) + t
    if qos:
        head += _u16(pid)
    return head


def puback(pid):
    return bytes((PUBACK, 2, pid >> 8, pid & 0xFF))


def subscribe(pid, topic_filter, qos):
    body = _u16(pid) + _utf8(topic_filter) + bytes((qos,))
    return bytes((SUBSCRIBE,)) + encode_length(len(body)) + body


def unsubscribe(pid, topic_filter):
    body = _u16(pid) + _utf8(topic_filter)
    return bytes((UNSUBSCRIBE,)) + encode_length(len(body)) + body


def parse_connack(first, body):
    """CONNACK (3.2) -> (session_present, return_code)."""
    if first != CONNACK or len(body) != 2:
        raise MalformedPacket("expected CONNACK, got type 0x%02x with %d bytes" % (first, len(body)))
    if body[0] & 0xFE:
        raise MalformedPacket("CONNACK reserved flags set")
    return bool(body[0] & 1), body[1]


def parse_publish(first, body):
    """PUBLISH (3.3) -> (topic, pid, payload_offset, qos, retain)."""
    qos = (first >> 1) & 3
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    n = len(body)
    if n < 2:
        raise MalformedPacket("PUBLISH too short for its topic length")
    tlen = (body[0] << 8) | body[1]
    off = 2 + tlen
    if off + (2 if qos else 0) > n:
        raise MalformedPacket("PUBLISH topic length %d runs past the packet" % tlen)
    try:
        topic = bytes(body[2:off]).decode("utf-8")
    except Exception:
        raise MalformedPacket("PUBLISH topic is not UTF-8")
    if not valid_topic(topic):
        raise MalformedPacket("PUBLISH topic %r is not a topic name" % topic)
    pid = 0
    if qos:
        pid = (body[off] << 8) | body[off + 1]
        off += 2
        if pid == 0:
            raise MalformedPacket("PUBLISH with packet id 0")
    return topic, pid, off, qos, bool(first & 1)


def parse_ack(first, body):
    """PUBACK or UNSUBACK -> packet id."""
    if first & 0x0F or len(body) != 2:
        raise MalformedPacket("ack type 0x%02x with %d bytes" % (first, len(body)))
    return (body[0] << 8) | body[1]


def parse_suback(first, body):
    """SUBACK (3.9) -> (pid, granted), granted a list of QoS values or 0x80 for failure."""
    if first != SUBACK or len(body) < 3:
        raise MalformedPacket("SUBACK with %d bytes" % len(body))
    codes = list(body[2:])
    for c in codes:
        if c not in (0, 1, 2, _SUB_FAILURE):
            raise MalformedPacket("SUBACK return code 0x%02x" % c)
    return (body[0] << 8) | body[1], codes


def valid_topic(name):
    """A topic name one may publish to (4.7): not empty, no wildcards, no NUL."""
    if not isinstance(name, str) or not name or len(name) > 65535:
        return False
    for ch in "+#\x00":
        if ch in name:
            return False
    return True


def valid_filter(f):
    """A subscription filter (4.7.1): '#' only as the whole last level, '+' only as a whole level."""
    if not isinstance(f, str) or not f or len(f) > 65535 or "\x00" in f:
        return False
    levels = f.split("/")
    last = len(levels) - 1
    for i in range(len(levels)):
        lv = levels[i]
        if "#" in lv and (lv != "#" or i != last):
            return False
        if "+" in lv and lv != "+":
            return False
    return True


def matches(topic_filter, topic):
    """Does ``topic`` match ``topic_filter``? Wildcards never match a leading '$' level (4.7.2)."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    fl = topic_filter.split("/")
    tl = topic.split("/")
    for i in range(len(fl)):
        if fl[i] == "#":
            return True     # also matches the parent level: "a/#" matches "a"
        if i >= len(tl):
            return False
        if fl[i] != "+" and fl[i] != tl[i]:
            return False
    return len(fl) == len(tl)
