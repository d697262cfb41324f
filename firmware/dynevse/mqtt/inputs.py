"""Site data in: grid, solar, battery and voltage readings from any MQTT topic.

Each configured quantity (``QUANTITIES``) names a topic, an optional JSON field path, a
unit and a sign inversion. A message becomes a number in our units (A, W, %, V; grid +
import, battery + charging) stamped with the arrival time from the clock passed in, so
the control loop can apply its staleness rules. A payload that is not a number (or
lacks the field) is counted and ignored: the previous value and its old timestamp stay,
and age out as they should.

Retained messages are ignored: the broker hands them over on (re)subscription, and a
meter value of unknown age must not look fresh to the breaker protection.

``watch(limit_a, volts, phases)`` arms the overload check: a grid value over a phase's
limit (in W: ``limit_a`` x ``volts``; the total: x ``phases``) sets ``over``, so the
link can have the control loop run at once instead of at its next tick.
"""
import json

from dynevse.aio import ticks_diff
from dynevse.compat import const, is_number

_ROW = const(8)

# One quantity per line: name, its units (the first is the default), the reading it
# feeds (grid: grid_a or grid_w by unit), the phase index (-1: not per phase).
QUANTITIES = """grid_l1 A,W,kW grid 0
grid_l2 A,W,kW grid 1
grid_l3 A,W,kW grid 2
grid_total W,kW grid_total_w -1
solar W,kW solar_w -1
battery_soc % battery_soc -1
battery_power W,kW battery_w -1
voltage V voltage -1
inverter W,kW inverter_w -1
inverter_l1 W,kW inverter_phase_w 0
inverter_l2 W,kW inverter_phase_w 1
inverter_l3 W,kW inverter_phase_w 2"""


def parse_number(payload, path=""):
    """The finite number in ``payload`` (bytes), optionally at a JSON field path; else None."""
    try:
        v = bytes(payload).decode()
        if path == "":
            try:
                v = float(v)
            except ValueError:
                v = json.loads(v)   # a JSON-quoted number ("12.5") is a common plain value
        else:
            v = json.loads(v)
            for part in path.split("."):
                if isinstance(v, dict):
                    v = v.get(part)
                elif isinstance(v, list) and part.isdigit() and int(part) < len(v):
                    v = v[int(part)]
                else:
                    return None
        if isinstance(v, str):
            v = float(v)
    except Exception:
        return None
    return v if is_number(v) else None


class Inputs:
    """Latest value and arrival time of each configured quantity.

    ``mappings`` is ``config.check_inputs`` output; ``clock`` returns ms (ticks). The
    counts for the status page: ``counters.inputs_status``.
    """

    def __init__(self, mappings, clock):
        self._clock = clock
        # one flat list, _ROW entries per quantity: topic (the first: ``_rows[::_ROW]`` are
        # the topics to subscribe to), field, factor (scale and sign), reading, phase,
        # value, at_ms, bad
        self._rows = rows = [None] * (_ROW * len(mappings))
        i = 0
        for line in QUANTITIES.split("\n"):
            q = line.split(" ")
            m = mappings.get(q[0])
            if m is not None:
                unit = m["unit"]
                reading = q[2]
                if reading == "grid":
                    reading = "grid_a" if unit == "A" else "grid_w"
                rows[i:i + _ROW] = (m["topic"], m["field"], (1000 if unit == "kW" else 1) * (-1 if m["invert"] else 1),
                                    reading, int(q[3]), None, None, 0)
                i += _ROW
        self.ok = self.bad = self.retained_ignored = 0
        self.over = False
        self._over = [None] * len(mappings)   # per quantity: its overload threshold

    def signs(self, mappings):
        """Take the sign inversions of changed ``mappings`` (the same quantities, a
        command flipped an ``invert``); the value held changes sign with it. Returns
        whether any changed."""
        r = self._rows
        i = 0
        changed = False
        for line in QUANTITIES.split("\n"):
            m = mappings.get(line.split(" ")[0])
            if m is None or i >= len(r):
                continue
            f = abs(r[i + 2]) * (-1 if m["invert"] else 1)
            if f != r[i + 2]:
                changed = True
                r[i + 2] = f
                if r[i + 5] is not None:
                    r[i + 5] = -r[i + 5]
            i += _ROW
        return changed

    def watch(self, limit_a, volts, phases):
        """Set ``over`` when a grid value beyond ``limit_a`` per phase arrives."""
        r = self._rows
        for i in range(0, len(r), _ROW):
            key = r[i + 3]
            if key == "grid_a":
                lim = limit_a
            elif key == "grid_w":
                lim = limit_a * volts
            elif key == "grid_total_w":
                lim = limit_a * volts * phases
            else:
                lim = None
            self._over[i // _ROW] = lim

    def handle(self, topic, payload, retained=False):
        """Take a message; returns True if the topic is one of ours (used or counted)."""
        mine = False
        r = self._rows
        for i in range(0, len(r), _ROW):
            if r[i] == topic:
                mine = True
                if retained:
                    self.retained_ignored += 1
                    continue
                v = parse_number(payload, r[i + 1])
                if v is None:
                    self.bad += 1
                    r[i + 7] += 1
                else:
                    v *= r[i + 2]
                    r[i + 5] = v
                    r[i + 6] = self._clock()
                    self.ok += 1
                    lim = self._over[i // _ROW]
                    if lim is not None and v > lim:
                        self.over = True
        return mine

    def readings(self, now_ms=None):
        """Latest values by the engine's names, with arrival times and ages in ms.

        ``{"grid_a": [l1, l2, l3], "solar_w": x, ..., "at_ms": {...same shape...},
        "age_ms": {...}}``; a quantity never received is None; unconfigured ones are
        absent. Per-phase lists have as many entries as the highest configured phase.
        """
        if now_ms is None:
            now_ms = self._clock()
        out = {}
        at = {}
        age = {}
        r = self._rows
        for i in range(0, len(r), _ROW):
            key = r[i + 3]
            p = r[i + 4]
            t = r[i + 6]
            for d, v in ((out, r[i + 5]), (at, t), (age, None if t is None else ticks_diff(now_ms, t))):
                if p < 0:
                    d[key] = v
                else:
                    x = d.get(key)
                    if x is None:
                        x = d[key] = []
                    while len(x) <= p:
                        x.append(None)
                    x[p] = v
        out["at_ms"] = at
        out["age_ms"] = age
        return out
