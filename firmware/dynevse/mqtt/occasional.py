"""What the MQTT link needs now and then: a command, a (re)connect, the status page.

Loaded for the call and dropped after it (``client.call``/``acall``), so none of it
stays in memory while the link just runs:

- commands from Home Assistant: ``COMMANDS`` lists the settings that can be changed
  over MQTT with the configuration schema's kind, range and unit for each (one string,
  so that the schema need not stay in memory; a test checks that the two agree; the
  discovery announcement reads the same table for options and ranges);
  ``decode_command`` validates one, ``command`` hands it to the app and confirms or
  refuses it
- connection setup: ``login`` (the broker's address, resolved once; CONNECT and
  CONNACK), ``connect_packet``, ``connack``
- the status page: ``client_status``, ``inputs_status``, ``link_status``; the keys are
  in strings (a name in the code would stay in memory after the module is dropped)
"""
import asyncio
import json
import socket

from dynevse.aio import wait_for
from dynevse.compat import is_number
from dynevse.mqtt.inputs import QUANTITIES
from dynevse.mqtt.packet import MalformedPacket, _utf8, encode_length
from dynevse.mqtt.state import encode, parse_command

# ---- commands ------------------------------------------------------------------------

# One command per line: where (s: site, b: site.battery, only with a battery, c: each
# charger), key, entity platform, then for a select its options, for a number the
# schema kind (n: number, i: whole number), lo, hi and unit. Table order is the order
# in which refusals list the keys.
COMMANDS = """s mode select standard,eco,solar,excess
s distribution select shared,priority,sequential_optimized,sequential_strict
s allow_grid_charging switch
s power_buffer_w number n 0 100000 W
b soc_min number n 0 100 %
b soc_target number n 0 100 %
c mode select default,standard,eco,solar,excess
c min_a number n 0 80 A
c max_a number n 1 80 A
c priority number i 1 10
c reset button"""


def commands(site, battery=True):
    """Yield the rows of ``COMMANDS`` for the hub (``site``) or a charger, as lists of
    words, one at a time."""
    for line in COMMANDS.split("\n"):
        r = line.split(" ")
        if (r[0] == "c") != (not site) or (r[0] == "b" and not battery):
            continue
        yield r


def decode_command(base, topic, payload, retained, battery, charger_ids):
    """A command message -> (target, key, value), target "site" or a charger id; or
    (None, field, message) when it is refused.

    Validated like any other input, with the configuration schema's rules (a refusal
    names the setting, what is allowed and what was given).
    """
    p = parse_command(base, topic)
    if p is None:
        return None, "mqtt.command", "%r is not a command topic" % topic
    cid, key = p
    if cid is None:
        path = "site." + key
    else:
        path = "chargers[%s].%s" % (cid, key)
        if cid not in charger_ids:
            return None, "chargers[%s]" % cid, "no charger with this id is configured"
    row = None
    names = []
    for r in commands(cid is None, battery):
        names.append(r[1])
        if r[1] == key:
            row = r
    if row is None:
        return None, path, "is not a setting that can be changed over MQTT; one of " + ", ".join(names)
    if retained:
        return None, path, "retained commands are ignored: publish without the retain flag"
    text = None
    if len(payload) <= 64:
        try:
            text = bytes(payload).decode().strip()
        except Exception:
            pass
    if text is None:
        return None, path, "must be text of at most 64 bytes"
    comp = row[2]
    value = None
    if comp == "button":
        if text != "PRESS":
            return None, path, "must be PRESS, got %r" % text
    elif comp == "switch":
        if text not in ("ON", "OFF"):
            return None, path, "must be ON or OFF, got %r" % text
        value = text == "ON"
    elif comp == "select":
        if text not in row[3].split(","):
            return None, path, "must be one of %s, got %r" % (row[3].replace(",", ", "), text)
        value = "" if text == "default" else text
    else:
        # as schema.check_value does it, with the schema's words
        try:
            value = float(text)
        except Exception:
            value = text
        if is_number(value) and value == int(value):
            value = int(value)  # so that "16" is shown back as 16, not 16.0
        lo = int(row[4])
        hi = int(row[5])
        ok = is_number(value) and lo <= value <= hi
        if ok and row[3] == "i":
            ok = value == int(value)
            value = int(value)
        if not ok:
            if row[0] == "b":
                path = "site.battery." + key
            return None, path, "must be %s from %s to %s%s, got %r" % (
                "a number" if row[3] == "n" else "a whole number", lo, hi,
                " " + row[6] if len(row) > 6 else "", value)
    return cid or "site", key, value


def command(link, topic, payload, retained):
    """One command for ``link``: validate it, let the app apply it (``on_command``), show
    the new value in the next state at once; or publish the refusal to diagnostics."""
    hub = link._hub
    target, key, value = decode_command(link.base, topic, payload, retained, bool(hub and hub[3]),
                                        link._chargers[::5])
    if target is not None and link.on_command is not None:
        try:
            link.on_command(target, key, value)
        except Exception as e:
            # the app refuses with a ConfigError (field, message); anything else failed
            key = getattr(e, "field", None)
            value = getattr(e, "message", str(e)) if key else "could not be applied: %s" % e
            key = key or "command"
            target = None
    if target is None:
        link.n[1] += 1
        link.last_refusal = ("%s: %s" % (key, value))[:160]
        d = json.dumps
        link.client.publish(link.base + "/diagnostics",
                            '{"topic":%s,"field":%s,"error":%s}' % (d(topic), d(key), d(value)))
        return
    link.n[0] += 1
    if value is None:
        return
    # Confirm at once: show the new value in the state we publish next.
    s = link._states
    for i in range(0, len(s), 3):
        if s[i] == ("" if target == "site" else target):
            d = json.loads(s[i + 1])
            d[key] = "default" if target != "site" and key == "mode" and value == "" else value
            s[i + 1] = encode(" ".join(k + " 0 " + k for k in sorted(d)), (d,))
            s[i + 2] = None
    link._pump()


# ---- connection setup ----------------------------------------------------------------

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


# ---- the status page -------------------------------------------------------------------

# the names of Client.n and Link.n, in index order, then what status() adds
CLIENT = "connects connect_failures links_lost malformed dead_broker oversized rejected " \
    "resent rx tx callback_errors sub_refused unexpected dropped"
LINK = "commands commands_refused discovery_sent entities_removed states_sent"


def _put(d, names, values):
    names = names.split()
    for i in range(len(names)):
        d[names[i]] = values[i]
    return d


def client_status(c):
    """State ("connected", "connecting", "waiting", "stopped"), last_error, counters."""
    k = c.n[0]
    return _put({}, CLIENT + " state last_error reconnects queued inflight",
                c.n + [c.state, c.last_error, k - 1 if k > 1 else 0, len(c._q), len(c._inflight)])


def inputs_status(i):
    """Accepted, bad (not a number) and retained-ignored messages; bad ones by quantity."""
    bad = {}
    r = i._rows
    for k in range(0, len(r), 8):
        if r[k + 7]:
            # the quantity of this row: the one that feeds its reading (grid: its phase)
            for q in QUANTITIES.split("\n"):
                q = q.split(" ")
                if q[2] == r[k + 3] or q[2] == r[k + 3][:4] and int(q[3]) == r[k + 4]:
                    bad[q[0]] = r[k + 7]
                    break
    return _put({}, "input_ok input_bad input_retained_ignored input_bad_by_quantity",
                (i.ok, i.bad, i.retained_ignored, bad))


def link_status(l):
    """The client's, the link's and the inputs' numbers; the last refusal; discovery
    "off", "pending" or "done"."""
    d = _put(l.client.status(), LINK + " last_refusal discovery",
             l.n + [l.last_refusal, "off pending done".split()[0 if not l.cfg["discovery"] else 1 if l._discover else 2]])
    d.update(inputs_status(l.inputs))
    return d
