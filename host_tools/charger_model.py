"""Chargers and cars as a controller meets them, for timelines and the day benchmark.

A limit is wanted by the regulator, delivered by the charger's sender a little later (the
OCPP side's contract: send on change and before the profile lapses, 0 A included, one
call in flight), applied by the car seconds after the charger accepted it, and followed
at the car's ramp rate. The charger's meter values arrive every few seconds and describe
the draw some seconds before they arrive; the controller only knows when they arrived.
A profile nobody refreshes lapses and the charger falls back to its own default. Some
chargers refuse every profile, some accept and ignore them.

Runs on CPython and the MicroPython unix port (the timelines use it on both): plain
classes, an own random generator so both runtimes draw the same numbers. Units: A per
phase, W, Wh, seconds.
"""

CAR_MIN_A = 6.0     # IEC 61851: a car can't charge below 6 A; it pauses


class Rng:
    """Park-Miller minimal standard generator: the same sequence on every runtime."""

    def __init__(self, seed):
        self.s = seed % 2147483647 or 1

    def random(self):
        self.s = self.s * 48271 % 2147483647
        return self.s / 2147483647

    def uniform(self, lo, hi):
        return lo + (hi - lo) * self.random()


def _span(x, rng):
    """A number, or [lo, hi]: a value drawn uniformly between."""
    if isinstance(x, (list, tuple)):
        return rng.uniform(x[0], x[1])
    return x


class LaggingCar:
    """A car on a charger. ``spec``: ``phases``, ``max_a`` (32), ``ramp_a_s`` (3 A/s up),
    ``drop_a_s`` (how fast it comes down; default at once), ``delay_s`` (time from the
    charger applying a limit to the car starting to follow it; a number or [lo, hi]
    drawn per change; default 0), ``need_wh`` (energy until full; default never full)."""

    def __init__(self, spec, charger_phases, volts, rng, now_s=0.0):
        spec = spec or {}
        self.phases = min(spec.get("phases", charger_phases), charger_phases)
        self.max_a = spec.get("max_a", 32.0)
        self.ramp_a_s = spec.get("ramp_a_s", 3.0)
        self.drop_a_s = spec.get("drop_a_s")
        self.delay = spec.get("delay_s", 0.0)
        self.need_wh = spec.get("need_wh")
        self.draw_a = spec.get("draw_a", 0.0)
        self.volts = volts
        self.rng = rng
        self.t = now_s
        self.follows = None         # the limit the car follows now
        self.pending = []           # [(when it follows, limit)]
        self.energy_wh = 0.0
        self.finished = False

    def offer(self, now_s, limit_a):
        """The charger applies ``limit_a`` from now on."""
        self.pending.append((now_s + _span(self.delay, self.rng), limit_a))

    def step(self, dt_s):
        while self.pending and self.pending[0][0] <= self.t + 1e-9:
            self.follows = self.pending.pop(0)[1]
        limit = 0.0 if self.follows is None else self.follows
        want = min(limit, self.max_a)
        if want < CAR_MIN_A or self.finished:
            want = 0.0
        if want < self.draw_a:
            if self.drop_a_s is None:
                self.draw_a = want
            else:
                self.draw_a = max(want, self.draw_a - self.drop_a_s * dt_s)
        else:
            self.draw_a = min(want, self.draw_a + self.ramp_a_s * dt_s)
        self.energy_wh += self.draw_a * self.phases * self.volts * dt_s / 3600.0
        if self.need_wh is not None and self.energy_wh >= self.need_wh:
            self.finished = True
        self.t += dt_s

    def status(self):
        if self.finished:
            return "SuspendedEV"
        return "Charging" if self.draw_a > 0 else "SuspendedEVSE"


class Delayed:
    """A value sampled every second, reported every ``interval_s`` as it was ``lag_s``
    earlier; the receiver knows only when a report arrived."""

    def __init__(self, interval_s, lag_s, phase_s=0.0):
        self.interval = interval_s
        self.lag = lag_s
        self.next_s = phase_s
        self.hist = []              # [(t, value)], oldest first, bounded by the lag
        self.value = None
        self.arrived_s = None

    def sample(self, now_s, value):
        self.hist.append((now_s, value))
        while len(self.hist) > 1 and self.hist[1][0] <= now_s - self.lag + 1e-9:
            self.hist.pop(0)
        if now_s >= self.next_s - 1e-9:
            self.value = self.hist[0][1]      # the newest sample at least lag_s old
            self.arrived_s = now_s
            while self.next_s <= now_s + 1e-9:
                self.next_s += self.interval

    def age(self, now_s):
        return None if self.arrived_s is None else now_s - self.arrived_s


class ChargePoint:
    """A charger with the board's sender for it (the OCPP side of the contract).

    ``spec``: ``refuses`` (rejects every profile), ``ignores_limit`` (accepts, but lets
    the car draw its max), ``latency_s`` (send to acceptance; number or [lo, hi]),
    ``setup_s`` (no profile before its capabilities are read), ``lapse_a`` (what the
    charger allows without a valid profile: the board's fallback profile, default 6 A;
    a charger that refuses or has no stack level for it: its rating), ``meter_interval_s``,
    ``meter_lag_s``. ``duration_s``/``refresh_before_s``: the profile's duration and when
    an unchanged limit is sent again.
    """

    def __init__(self, spec, duration_s, refresh_before_s, rng, cycle_s):
        spec = spec or {}
        self.refuses = bool(spec.get("refuses"))
        self.ignores = bool(spec.get("ignores_limit"))
        self.latency = spec.get("latency_s", 0.0)
        self.setup_s = spec.get("setup_s", 0.0)
        self.lapse_a = spec.get("lapse_a", 6.0)
        self.rating_a = spec.get("rating_a", 32.0)
        self.duration = duration_s
        self.refresh_before = refresh_before_s
        self.rng = rng
        self.meter = Delayed(spec.get("meter_interval_s", cycle_s), spec.get("meter_lag_s", 0.0))
        self.in_force = None        # accepted limit, A; None: none valid
        self.expires_s = None
        self.delivered_a = None
        self.delivered_s = None
        self.control = "pending"
        self.wanted = None
        self.flight = None          # (answer at s, limit) of the call in flight
        self.clear = False
        self.applied = None         # what the car is offered now
        self.lapses = 0
        self.sent = 0

    def want(self, limit_a):
        """The regulator's row: the limit this charger should have now."""
        self.wanted = limit_a

    def clear_and_resend(self):
        self.clear = True

    def _send(self, now_s, limit):
        self.flight = (now_s + _span(self.latency, self.rng), limit)
        self.sent += 1

    def step(self, now_s, car):
        """Progress the sender and the profile in force; tell the car what it may draw."""
        if self.flight is not None and self.flight[0] <= now_s + 1e-9:
            limit = self.flight[1]
            self.flight = None
            if self.refuses:
                self.control = "refused"
            else:
                self.control = "ok"
                self.in_force = limit
                self.expires_s = now_s + self.duration
                self.delivered_a = limit
                self.delivered_s = now_s
        if self.in_force is not None and now_s >= self.expires_s - 1e-9:
            self.in_force = None            # nobody refreshed it
            self.delivered_a = None
            self.delivered_s = None
            self.lapses += 1
        if (self.flight is None and self.wanted is not None and now_s >= self.setup_s - 1e-9
                and self.control != "refused"):
            if self.clear:
                self.clear = False
                self.in_force = None
                self._send(now_s, self.wanted)
            elif self.in_force is None or abs(self.wanted - self.in_force) > 0.05:
                self._send(now_s, self.wanted)
            elif now_s >= self.expires_s - self.refresh_before - 1e-9:
                self._send(now_s, self.wanted)
        self.offer(now_s, car)

    def offer(self, now_s, car):
        if self.ignores or self.refuses and self.in_force is None:
            applied = self.rating_a
        elif self.in_force is None:
            applied = self.lapse_a
        else:
            applied = self.in_force
        if car is not None and applied != self.applied:
            car.offer(now_s, applied)
        self.applied = applied if car is not None else None

    def live(self, now_s, car, n_phases):
        """What the controller knows of this charger now (the app's charger inputs)."""
        out = {"connected": True, "control": self.control,
               "delivered_a": self.delivered_a, "delivered_s": self.delivered_s}
        if car is None:
            out["status"] = "Available"
        else:
            out["status"] = car.status()
        if self.meter.value is not None:
            out["draw_a"] = list(self.meter.value[0])
            out["offered_a"] = self.meter.value[1]
            out["meter_age_s"] = self.meter.age(now_s)
        return out

    def sample(self, now_s, car, n_phases):
        """Record this second's draw for the (late) meter values."""
        d = [0.0] * n_phases
        offered = 0.0
        if car is not None:
            for k in range(car.phases):
                d[k] = car.draw_a
            offered = self.applied or 0.0
        self.meter.sample(now_s, (d, offered))
