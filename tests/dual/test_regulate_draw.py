"""A charger that left or is out of reach, its last meter sample older than its status:
its stale draw is not handed out again (both runtimes)."""
from dynevse.core.regulate import Regulator

SITE = {"phases": 3, "breaker_a": 25, "breaker_margin_a": 2, "mode": "standard", "distribution": "shared"}
HOUSE_A = 10.0


def _charging(cid, a):
    """A charger whose car follows its delivered limit ``a`` (the sender reports it)."""
    return {"id": cid, "status": "Charging", "draw_a": [a] * 3, "meter_age_s": 1,
            "delivered_a": a if a else None}


def _shared(r):
    """Two cars sharing 25 - 2 - 10 = 13 A: 6.5 A each, after the ramp; the time reached."""
    lim = [0.0, 0.0]
    t = 0
    for _ in range(12):
        site = dict(SITE, grid_a=[HOUSE_A + lim[0] + lim[1]] * 3)
        out = r.step(t, site, [_charging("cp1", lim[0]), _charging("cp2", lim[1])])
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
    out = r.step(t, site, [_charging("cp1", 6.5), cp2])
    return [c["limit_a"] for c in out["chargers"]]


def test_a_charger_that_delivers_nothing_leaves_only_what_the_grid_shows():
    # cp2 stops delivering while its last meter sample (6.5 A a phase, a second old) is all
    # the central system has of it. cp1 may have the whole room now, 25 - 2 - 10 = 13 A, no
    # more: cp2's stale 6.5 A taken off the grid reading makes the house 3.5 A and the
    # engine's room 19.5 A, and 16 A for cp1 would be 26 A on a 25 A breaker (the 4-charger
    # sim went to 47.1 A on 40 A this way when a car left, before increases were bounded by
    # the measured grid: 23 A - 16.5 A measured + cp1's own 6.5 A).
    for status in ("Available", "Finishing", "Faulted", "Unavailable"):
        for cp2 in ({"id": "cp2", "status": status, "draw_a": [6.5] * 3, "meter_age_s": 1, "delivered_a": 6.5},
                    {"id": "cp2", "status": status, "draw_a": [6.5] * 3, "meter_age_s": 1}):
            cp1, cp2 = _after(cp2, 0)
            assert cp1 <= 13.0 and cp2 == 0.0, (status, cp1, cp2)


def test_a_charger_out_of_reach_may_still_draw_its_profile():
    # Lost from OCPP (the app reports it so, without a status, meter sample or limit),
    # cp2 goes on on its last profile (6.5 A, delivered seconds ago: profile_duration_s
    # is 180 s) and then on its fallback profile (fallback_a, 6 A), whenever its car asks:
    # what the grid shows of it now is not all it may draw. So cp1 keeps what is left
    # with cp2 at 6.5 A, 25 - 2 - 10 - 6.5 = 6.5 A, whatever cp2 draws at the moment.
    # Drawing nothing (its car paused), cp2 would otherwise make room for cp1 at 13 A:
    # 13 + 6.5 + 10 = 29.5 A on a 25 A breaker once its car resumes.
    lost = {"id": "cp2", "status": "Unavailable", "connected": False}
    for still_drawing_a in (6.5, 0.0):
        cp1, cp2 = _after(dict(lost), still_drawing_a)
        assert cp2 == 0.0 and cp1 <= 6.5, (still_drawing_a, cp1)
