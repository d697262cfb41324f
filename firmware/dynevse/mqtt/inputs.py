"""Site data in: grid, solar, battery and voltage readings from any MQTT topic.

Each configured quantity (``config.QUANTITIES``) names a topic, an optional JSON field
path, a unit and a sign inversion. A message becomes a number in our units (A, W, %, V;
grid + import, battery + charging) stamped with the arrival time from the clock passed
in, so the control loop can apply its staleness rules. A payload that is not a number
(or lacks the field) is counted and ignored: the previous value and its old timestamp
stay, and age out as they should.

Retained messages are ignored: the broker hands them over on (re)subscription, and a
meter value of unknown age must not look fresh to the breaker protection.
"""
import json

from dynevse.aio import ticks_diff
from dynevse.core.schema import is_number
from dynevse.mqtt.config import quantities

_SCALE = {"A": 1, "W": 1, "kW": 1000, "%": 1, "V": 1}


def parse_number(payload, path=""):
    """The finite number in ``payload`` (bytes), optionally at a JSON field path; else None."""
    try:
        text = bytes(payload).decode("utf-8")
    except Exception:
        return None
    if path == "":
        try:
            v = float(text)
        except Exception:
            # a JSON-quoted number ("12.5") is a common way to send a plain value
            try:
                v = json.loads(text)
            except Exception:
                return None
            if isinstance(v, str):
                try:
                    v = float(v)
                except Exception:
                    return None
        return v if is_number(v) else None
    try:
        v = json.loads(text)
    except Exception:
        return None
    for part in path.split("."):
        if isinstance(v, dict):
            v = v.get(part)
        elif isinstance(v, list) and part.isdigit() and int(part) < len(v):
            v = v[int(part)]
        else:
            return None
    if isinstance(v, str):
        try:
            v = float(v)
        except Exception:
            return None
    return v if is_number(v) else None


class Inputs:
    """Latest value and arrival time of each configured quantity.

    ``mappings`` is ``config.check_inputs`` output; ``clock`` returns ms (ticks).
    """

    def __init__(self, mappings, clock):
        self._clock = clock
        # rows: [quantity, topic, field, scale, sign, reading, phase, value, at_ms, bad]
        self._rows = []
        for q in quantities():
            m = mappings.get(q[0])
            if m is None:
                continue
            unit = m["unit"]
            reading = q[2]
            if reading == "grid":
                reading = "grid_a" if unit == "A" else "grid_w"
            self._rows.append([q[0], m["topic"], m["field"], _SCALE[unit],
                               -1 if m["invert"] else 1, reading, q[3], None, None, 0])
        self.ok = 0
        self.bad = 0
        self.retained_ignored = 0

    def topics(self):
        """The distinct topics to subscribe to, sorted."""
        out = []
        for r in self._rows:
            if r[1] not in out:
                out.append(r[1])
        out.sort()
        return out

    def handle(self, topic, payload, retained=False):
        """Take a message; returns True if the topic is one of ours (used or counted)."""
        mine = False
        for r in self._rows:
            if r[1] != topic:
                continue
            mine = True
            if retained:
                self.retained_ignored += 1
                continue
            v = parse_number(payload, r[2])
            if v is None:
                self.bad += 1
                r[9] += 1
                continue
            r[7] = v * r[3] * r[4]
            r[8] = self._clock()
            self.ok += 1
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
        for r in self._rows:
            key = r[5]
            a = None if r[8] is None else ticks_diff(now_ms, r[8])
            if r[6] >= 0:
                if key not in out:
                    out[key] = []
                    at[key] = []
                    age[key] = []
                while len(out[key]) <= r[6]:
                    out[key].append(None)
                    at[key].append(None)
                    age[key].append(None)
                out[key][r[6]] = r[7]
                at[key][r[6]] = r[8]
                age[key][r[6]] = a
            else:
                out[key] = r[7]
                at[key] = r[8]
                age[key] = a
        out["at_ms"] = at
        out["age_ms"] = age
        return out

    def counters(self):
        """Counts for the status page: accepted, bad (not a number) and retained-ignored messages."""
        bad = {}
        for r in self._rows:
            if r[9]:
                bad[r[0]] = r[9]
        return {"input_ok": self.ok, "input_bad": self.bad,
                "input_retained_ignored": self.retained_ignored, "input_bad_by_quantity": bad}
