"""MQTT 3.1.1 packets and topic rules, without I/O.

Encoders return bytes ready to write; a PUBLISH is written as ``publish_head(...)``
followed by the payload, so a large payload is never copied into a second buffer.
Decoders take the first byte of the fixed header and the packet body (everything after
the remaining length) and raise MalformedPacket for anything the 3.1.1 specification
does not allow; the client then drops the connection.

Packet types are written as numbers where they are used (CONNECT 0x10, CONNACK 0x20,
PUBLISH 0x30, PUBACK 0x40, SUBSCRIBE 0x82, SUBACK 0x90, UNSUBSCRIBE 0xA2, UNSUBACK 0xB0,
PINGREQ 0xC0, PINGRESP 0xD0, DISCONNECT 0xE0): on the board every module-level name
costs heap. Section numbers in comments refer to the OASIS MQTT 3.1.1 specification.
"""

class MalformedPacket(ValueError):
    """The peer sent something MQTT 3.1.1 does not allow; the connection must be dropped."""


def encode_length(n):
    """The remaining-length field (2.2.3): 1 to 4 bytes, 7 bits each, low bits first."""
    if n < 0 or n > 268435455:
        raise ValueError("remaining length out of range: %d" % n)
    out = bytearray()
    while n > 127:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def add_length_byte(value, index, b):
    """Fold length byte number ``index`` (0-based) into ``value``.

    Returns (value, done). A fourth byte with the continuation bit set is malformed.
    """
    value |= (b & 0x7F) << (7 * index)
    if b & 0x80 and index >= 3:
        raise MalformedPacket("remaining length longer than 4 bytes")
    return value, not b & 0x80


def _utf8(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    n = len(b)
    if n > 65535:
        raise ValueError("string longer than 65535 bytes")
    return bytes((n >> 8, n & 0xFF)) + b


def publish_head(topic, payload_len, qos=0, retain=False, dup=False, pid=0):
    """Everything of a PUBLISH (3.3) before its payload."""
    t = _utf8(topic)
    if qos:
        t += bytes((pid >> 8, pid & 0xFF))
    return bytes((0x30 | (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0),)) \
        + encode_length(len(t) + payload_len) + t


def subscribe(pid, topic_filter, qos=None):
    """SUBSCRIBE (3.8) with the requested QoS, or UNSUBSCRIBE (3.10) without one; both
    carry the mandatory flags 0010."""
    body = bytes((pid >> 8, pid & 0xFF)) + _utf8(topic_filter)
    if qos is not None:
        body += bytes((qos,))
    return bytes((0xA2 if qos is None else 0x82,)) + encode_length(len(body)) + body


def parse_ack(first, body):
    """SUBACK (3.9) -> (pid, granted), granted a list of QoS values or 0x80 for failure;
    PUBACK or UNSUBACK -> packet id. (CONNACK: ``connect.connack``.)"""
    n = len(body)
    if first == 0x90:
        codes = list(body[2:])
        for c in codes:
            if c not in (0, 1, 2, 0x80):
                raise MalformedPacket("SUBACK code %d" % c)
        if not codes:
            raise MalformedPacket("SUBACK")
        return (body[0] << 8) | body[1], codes
    if first not in (0x40, 0xB0) or n != 2:
        raise MalformedPacket("ack 0x%02x" % first)
    return (body[0] << 8) | body[1]


def parse_publish(first, body):
    """PUBLISH (3.3) -> (topic, pid, payload_offset, qos, retain)."""
    qos = (first >> 1) & 3
    n = len(body)
    if qos == 3 or n < 2:
        raise MalformedPacket("PUBLISH")
    off = 2 + ((body[0] << 8) | body[1])
    topic = None
    if off + (2 if qos else 0) <= n:
        try:
            topic = bytes(body[2:off]).decode()
        except Exception:
            pass
    pid = (body[off] << 8) | body[off + 1] if qos and topic else 0
    if not valid_topic(topic) or qos and not pid:
        # topic past the end, not UTF-8, not a topic name (4.7.3); packet id 0 (2.3.1)
        raise MalformedPacket("PUBLISH topic %r, packet id %d" % (topic, pid))
    return topic, pid, off + (2 if qos else 0), qos, bool(first & 1)


def valid_topic(name, wild="+#"):
    """A topic name one may publish to (4.7): not empty, no wildcards, no NUL.

    With ``wild`` "" it checks a subscription filter (4.7.1) instead: '#' only as the
    whole last level, '+' only as a whole level."""
    if not isinstance(name, str) or not name or len(name) > 65535 or "\x00" in name:
        return False
    for ch in wild:
        if ch in name:
            return False
    levels = name.split("/")
    last = len(levels) - 1
    for i in range(last + 1):
        lv = levels[i]
        if ("#" in lv and (lv != "#" or i != last)) or ("+" in lv and lv != "+"):
            return False
    return True


def matches(topic_filter, topic):
    """Does ``topic`` match ``topic_filter``? Wildcards never match a leading '$' level (4.7.2)."""
    if topic.startswith("$") and topic_filter[:1] in "+#":
        return False
    fl = topic_filter.split("/")
    tl = topic.split("/")
    for i in range(len(fl)):
        if fl[i] == "#":
            return True     # also matches the parent level: "a/#" matches "a"
        if i >= len(tl) or fl[i] != "+" and fl[i] != tl[i]:
            return False
    return len(fl) == len(tl)
