"""Commands from Home Assistant: decoded, checked, handed to the app, confirmed or refused.

Loaded for one command and dropped after it (``Link._on_message``). Which settings can be
changed, and each one's platform, options and range, come from the configuration's field
tables (``config.site.commands``), as the discovery announcement's do.
"""
import json

from dynevse.compat import is_number
from dynevse.config.site import choice_words, commands
from dynevse.mqtt.state import encode, parse_command


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
        # Home Assistant sends an option's words; the value itself is taken too
        # (automations, and "default" for a charger's "")
        opts = row[3].split(",")
        value = None
        for v in opts:
            if text == choice_words(v) or text == (v or "default"):
                value = v
        if value is None:
            return None, path, "must be one of %s, got %r" % (
                ", ".join("'%s'" % choice_words(v) for v in opts), text)   # not %r: a port may escape the dash
    else:
        # as schema.check_value does it, with the schema's words; and on the step the
        # entity offers (0.1 A: the limits go out in tenths of an amp)
        try:
            value = float(text)
        except Exception:
            value = text
        if is_number(value) and value == int(value):
            value = int(value)  # so that "16" is shown back as 16, not 16.0
        lo = int(row[4])
        hi = int(row[5])
        unit = " " + row[6] if row[6] else ""
        ok = is_number(value) and lo <= value <= hi
        if ok and row[3] == "i":
            ok = value == int(value)
            value = int(value)
        if not ok:
            if row[0] == "b":
                path = "site.battery." + key
            return None, path, "must be %s from %s to %s%s, got %r" % (
                "a number" if row[3] == "n" else "a whole number", lo, hi, unit, value)
        k = 10 if row[7] == "0.1" else 1
        steps = int(value * k + 0.5)
        if abs(value * k - steps) > 0.001:
            if row[0] == "b":
                path = "site.battery." + key
            return None, path, "must be in steps of %s%s, got %r" % (row[7], unit, value)
        if k > 1 and type(value) is float:
            value = steps / k     # 10.5 exactly as the step has it, not 10.500000001
    return cid or "site", key, value


def command(link, topic, payload, retained):
    """One command for ``link``: validate it, let the app apply it (``on_command``), show
    the new value in the next state at once; or publish the refusal to diagnostics."""
    hub = link._hub
    target, key, value = decode_command(link.base, topic, payload, retained, bool(hub and hub[3]),
                                        link._chargers[::6])
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
