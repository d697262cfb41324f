"""Phase-map and grid-sign detection (core.detect) on timelines with lagging cars and
meters and household noise. Runs under pytest and on the MicroPython unix port.

The timeline, written out here so the expected values can be reasoned about:
- one control cycle every 5 s; the grid meter is fresh (measured at the cycle);
- a car answers a new limit 7 s after it, ramping at 3 A/s;
- the charger's meter samples every 10 s and its value arrives 10 s after the sample;
- the house draws 3 A on A, 5 A on B, 2 A on C, plus noise of up to +-1 A per phase per
  sample (a fixed pseudo-random sequence, the same on both runtimes).
"""
from dynevse.core.detect import Detector

_HOUSE_MA = (3000, 5000, 2000)


class _Noise:
    def __init__(self, seed):
        self.x = seed

    def ma(self):
        """-1000..1000 mA, from a linear congruential generator (same on both runtimes)."""
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % 2001 - 1000


class _Car:
    """A car on charger phases ``on`` (indexes), following limits (t_s, A) late."""

    def __init__(self, limits, on, n):
        self.limits = limits
        self.on = on
        self.n = n

    def draw_ma(self, t):
        a = 0.0
        for at, lim in self.limits:
            start = at + 7
            if t <= start:
                break
            ramp = a + (3.0 if lim > a else -3.0) * (t - start)
            a = min(ramp, lim) if lim > a else max(ramp, lim)
        return [int(a * 1000) if i in self.on else 0 for i in range(self.n)]


def run(cars, wiring, until_s, sign=1, extra=None, seed=7):
    """Run the timeline; ``cars``: {id: (configured phase map, _Car)}; ``wiring``: {id:
    the site phase index each charger phase really is on}; ``extra(t)``: other household
    current per site phase, mA. Returns the detector and {t: learnt maps} at each cycle."""
    det = Detector(True)
    noise = _Noise(seed)
    seen = []
    t = 0
    while t <= until_s:
        grid = list(_HOUSE_MA)
        if extra is not None:
            e = extra(t)
            grid = [grid[p] + e[p] for p in range(3)]
        for cid in cars:
            d = cars[cid][1].draw_ma(t)
            for i in range(len(d)):
                grid[wiring[cid][i]] += d[i]
        grid = [sign * (g + noise.ma()) for g in grid]
        chargers = []
        for cid in cars:
            pm, car = cars[cid]
            # the newest meter value that has arrived: sampled at 10k + 3, arriving 10 s on
            k = (t - 13) // 10
            if k < 0:
                chargers.append((cid, pm, None, None))
                continue
            sample = 10 * k + 3
            chargers.append((cid, pm, car.draw_ma(sample), sample + 10))
        det.observe(t, grid, t, chargers)
        seen.append((t, dict((cid, det.learnt_map(cid)) for cid in cars), det.inverted_phases()))
        t += 5
    return det, seen


def first_learnt(seen, cid):
    for t, maps, inv in seen:
        if maps[cid] is not None:
            return t, maps[cid]
    return None, None


def test_a_one_phase_charger_on_another_phase_is_learnt_from_three_steps():
    # configured on A, wired to B; steps: 0 -> 16 A at 100 s, -> 8 A at 250 s, -> 16 A at 400 s.
    # Each moves B by the step (8-16 A, averaged noise well within a quarter of it) while A
    # and C move by noise only (< 1.5 A): three votes for B.
    car = _Car([(100, 16), (250, 8), (400, 16)], [0], 1)
    det, seen = run({"cp1": ("A", car)}, {"cp1": [1]}, 600)
    t, m = first_learnt(seen, "cp1")
    assert m == "B", seen[-1]
    # The third step (at 400 s) reaches the meter at ~423 s (sample 413 s + 10 s) and is
    # confirmed by a reading at least 30 s later: 453 s or after; never before it.
    assert 450 <= t <= 470, t
    assert det.inverted_phases() == ""      # every step moved B the way the car did


def test_two_steps_are_not_enough():
    car = _Car([(100, 16), (250, 8)], [0], 1)
    det, seen = run({"cp1": ("A", car)}, {"cp1": [1]}, 600)
    assert first_learnt(seen, "cp1") == (None, None)


def test_a_configured_map_the_steps_confirm_offers_nothing():
    car = _Car([(100, 16), (250, 8), (400, 16)], [0], 1)
    det, seen = run({"cp1": ("B", car)}, {"cp1": [1]}, 600)
    assert first_learnt(seen, "cp1") == (None, None)
    assert det.chargers["cp1"].votes[0] == [1, 1, 1]    # it did learn: B, as configured


def test_a_one_phase_car_on_a_three_phase_charger_swaps_the_map():
    # configured ABC; the charger's L1 really is on C (L2 on B, L3 on A). A 1-phase car
    # draws on L1 only: C moves. L1 becomes C, and A (C's old owner L3) gets L1's A: CBA.
    car = _Car([(100, 16), (250, 8), (400, 16)], [0], 3)
    det, seen = run({"cp1": ("ABC", car)}, {"cp1": [2, 1, 0]}, 600)
    assert first_learnt(seen, "cp1")[1] == "CBA"


def test_a_three_phase_car_teaches_no_order():
    # equal steps on L1..L3 move A, B and C alike: which is which can't be told, and it
    # does not matter to a breaker. The map stays as configured, no vote.
    car = _Car([(100, 16), (250, 8), (400, 16)], [0, 1, 2], 3)
    det, seen = run({"cp1": ("ABC", car)}, {"cp1": [1, 2, 0]}, 600)
    assert first_learnt(seen, "cp1") == (None, None)
    assert det.chargers["cp1"].votes == [[], [], []]


def test_an_inverted_grid_input_is_found_from_one_charger_start():
    # the meter's sign is the wrong way round: as the car starts (0 -> 16 A on A at 100 s),
    # A's reading goes from -3 A to -19 A. One start shows it: by the confirmation (first
    # reading >= 30 s after the new level's first at 123 s -> 153 s) and not before.
    car = _Car([(100, 16)], [0], 1)
    det, seen = run({"cp1": ("A", car)}, {"cp1": [0]}, 200, sign=-1)
    assert det.inverted_phases() == "A"
    at = [t for t, m, inv in seen if inv]
    assert 150 <= at[0] <= 165, at[0]
    # B and C did not move: their inputs are not judged
    assert sorted(det.inverted) == [0]


def test_a_three_phase_start_shows_every_phase_inverted():
    car = _Car([(100, 10)], [0, 1, 2], 3)
    det, seen = run({"cp1": ("ABC", car)}, {"cp1": [0, 1, 2]}, 200, sign=-1)
    assert det.inverted_phases() == "ABC"


def test_a_normal_step_clears_an_inversion_seen_before():
    # inverted while the car starts; then the input is fixed (at 200 s); the next step
    # (16 -> 8 A at 300 s) moves A the car's way: the warning goes.
    car = _Car([(100, 16), (300, 8)], [0], 1)
    det = Detector(True)
    noise = _Noise(3)
    for t in range(0, 500, 5):
        sign = -1 if t < 200 else 1
        d = car.draw_ma(t)[0]
        grid = [sign * (_HOUSE_MA[0] + d + noise.ma()), _HOUSE_MA[1], _HOUSE_MA[2]]
        k = (t - 13) // 10
        ch = [("cp1", "A", car.draw_ma(10 * k + 3), 10 * k + 13)] if k >= 0 else [("cp1", "A", None, None)]
        det.observe(t, grid, t, ch)
        if t == 195:
            assert det.inverted_phases() == "A"
    assert det.inverted_phases() == ""


def test_the_board_clamps_are_not_judged_for_sign():
    car = _Car([(100, 16)], [0], 1)
    det = Detector(False)
    for t in range(0, 200, 5):
        d = car.draw_ma(t)[0]
        k = (t - 13) // 10
        ch = [("cp1", "A", car.draw_ma(10 * k + 3), 10 * k + 13)] if k >= 0 else [("cp1", "A", None, None)]
        det.observe(t, [abs(-3000 - d), 5000, 2000], t, ch)
    assert det.inverted_phases() == ""


def test_a_household_load_in_the_window_teaches_nothing():
    # a 9 A load switches on on A while the car's first step settles (120-200 s), and back
    # off in the second step's window: A moves by something else; B (where the car is)
    # moves but A moved too much to be quiet -> the steps teach nothing.
    car = _Car([(100, 16), (250, 8), (400, 16)], [0], 1)

    def kettle(t):
        on = 120 <= t < 200 or 250 <= t < 290 or 405 <= t < 440
        return [9000 if on else 0, 0, 0]
    det, seen = run({"cp1": ("A", car)}, {"cp1": [1]}, 600, extra=kettle)
    assert first_learnt(seen, "cp1") == (None, None)
    assert len(det.chargers["cp1"].votes[0]) < 3


def test_a_load_switching_inside_the_windows_teaches_nothing():
    # an oven on A switches 6 A on and off at every other sample: A's mean is the same
    # before and after (it would look quiet), but each window spreads 6 A (> 3 A): no step
    # is judged on such a grid, and the car's steps on B leave no vote.
    car = _Car([(100, 16), (250, 8), (400, 16)], [0], 1)

    def oven(t):
        return [6000 if (t // 5) % 2 else 0, 0, 0]
    det, seen = run({"cp1": ("A", car)}, {"cp1": [1]}, 600, extra=oven)
    assert det.chargers["cp1"].votes[0] == []


def test_another_charger_changing_meanwhile_spoils_the_step():
    # three 1-phase chargers step at the same moments: cp1 (on B) +16 A, cp2 (also on B)
    # -16 A, cp3 (on A) +16 A. The grid shows A rising by cp1's step and B quiet, as if cp1
    # were on A; a vote for A would be wrong three times over. Every charger changed
    # within the others' windows: no step counts.
    car1 = _Car([(100, 16), (250, 0), (400, 16)], [0], 1)
    car2 = _Car([(0, 16), (100, 0), (250, 16), (400, 0)], [0], 1)
    car3 = _Car([(100, 16), (250, 0), (400, 16)], [0], 1)
    det, seen = run({"cp1": ("B", car1), "cp2": ("B", car2), "cp3": ("A", car3)},
                    {"cp1": [1], "cp2": [1], "cp3": [0]}, 600)
    for cid in ("cp1", "cp2", "cp3"):
        assert det.chargers[cid].votes[0] == [], (cid, det.chargers[cid].votes)


def test_a_charger_without_meter_values_blocks_the_others():
    # cp2 is plugged but sends no meter values: its draw is unknown, so a change on any
    # phase might be its own; cp1's steps teach nothing while so.
    car = _Car([(100, 16), (250, 8), (400, 16)], [0], 1)
    det = Detector(True)
    noise = _Noise(5)
    for t in range(0, 600, 5):
        d = car.draw_ma(t)[0]
        grid = [_HOUSE_MA[0] + noise.ma(), _HOUSE_MA[1] + d, _HOUSE_MA[2]]
        k = (t - 13) // 10
        ch = [("cp1", "A", car.draw_ma(10 * k + 3) if k >= 0 else None, 10 * k + 13), ("cp2", "C", None, None)]
        det.observe(t, grid, t, ch)
    assert det.chargers["cp1"].votes[0] == []


def test_a_changed_configuration_starts_learning_again():
    car = _Car([(100, 16), (250, 8), (400, 16)], [0], 1)
    det, seen = run({"cp1": ("A", car)}, {"cp1": [1]}, 600)
    assert det.learnt_map("cp1") == "B"
    det.observe(605, [3000, 21000, 2000], 605, [("cp1", "B", [16000], 603)])
    assert det.chargers["cp1"].votes[0] == [] and det.learnt_map("cp1") is None


def test_a_grid_seen_too_rarely_teaches_nothing():
    # a grid reading only every 20 s (a slow meter): a 15 s window holds one sample at
    # most, which is no mean to judge a step on; three clean steps leave no vote
    car = _Car([(100, 16), (250, 8), (400, 16)], [0], 1)
    det = Detector(True)
    for t in range(0, 600, 5):
        d = car.draw_ma(t)[0]
        grid = [3000, 5000 + d, 2000] if t % 20 == 0 else []
        k = (t - 13) // 10
        ch = [("cp1", "A", car.draw_ma(10 * k + 3) if k >= 0 else None, 10 * k + 13)]
        det.observe(t, grid, t, ch)
    assert det.chargers["cp1"].votes[0] == []
