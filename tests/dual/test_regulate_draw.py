"""What the regulator takes a charger to draw when its meter sample is older than its
status (both runtimes)."""
from dynevse.core.regulate import Regulator

SITE = {"phases": 3, "breaker_a": 25, "breaker_margin_a": 2, "mode": "standard", "distribution": "shared"}
HOUSE_A = 10.0


def _shared(r):
    """Two cars sharing 25 - 2 - 10 = 13 A: 6.5 A each, after the ramp; the time reached."""
    lim = [0.0, 0.0]
    t = 0
    for _ in range(12):
        site = dict(SITE, grid_a=[HOUSE_A + lim[0] + lim[1]] * 3)
        out = r.step(t, site, [{"id": "cp1", "status": "Charging", "draw_a": [lim[0]] * 3, "meter_age_s": 1},
                               {"id": "cp2", "status": "Charging", "draw_a": [lim[1]] * 3, "meter_age_s": 1}])
        lim = [c["limit_a"] for c in out["chargers"]]
        t += 5
    assert lim == [6.5, 6.5], lim
    return t


def _after(cp2, cp2_draws_a):
    """cp1's and cp2's limits in the cycle after cp2 changed to ``cp2`` while really
    drawing ``cp2_draws_a`` a phase (what the grid reading shows)."""
    r = Regulator({})
    t = _shared(r)
    site = dict(SITE, grid_a=[HOUSE_A + 6.5 + cp2_draws_a] * 3)
    out = r.step(t, site, [{"id": "cp1", "status": "Charging", "draw_a": [6.5] * 3, "meter_age_s": 1}, cp2])
    return [c["limit_a"] for c in out["chargers"]]


def test_a_charger_that_delivers_nothing_draws_nothing():
    # cp2 stops delivering while its last meter sample (6.5 A a phase, a second old) is all
    # the central system has of it. cp1 may have the whole room now, 25 - 2 - 10 = 13 A, no
    # more: counting cp2's stale 6.5 A would take the house for 3.5 A and give cp1 16 A,
    # 26 A on a 25 A breaker (the 4-charger sim went to 47.1 A on 40 A this way when a car
    # left).
    for status in ("Available", "Finishing", "Faulted", "Unavailable"):
        cp1, cp2 = _after({"id": "cp2", "status": status, "draw_a": [6.5] * 3, "meter_age_s": 1}, 0)
        assert cp1 == 13.0 and cp2 == 0.0, (status, cp1, cp2)


def test_a_charger_out_of_reach_keeps_its_draw_in_the_house_load():
    # lost from OCPP (the app reports it so), cp2 may go on charging on its last profile
    # or stop: either way cp1 stays within what the grid leaves, 23 A minus the rest
    lost = {"id": "cp2", "status": "Unavailable", "connected": False}
    for still_drawing_a, room_a in ((6.5, 6.5), (0.0, 13.0)):
        cp1, cp2 = _after(dict(lost), still_drawing_a)
        assert cp2 == 0.0 and cp1 <= room_a, (still_drawing_a, cp1)
