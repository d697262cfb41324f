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
    lost = {"id": "cp2", "status": "Unavailable", "connected": False, "fallback_held": True}
    for still_drawing_a in (6.5, 0.0):
        cp1, cp2 = _after(dict(lost), still_drawing_a)
        assert cp2 == 0.0 and cp1 <= 6.5, (still_drawing_a, cp1)


def _alone(cp2):
    """cp1's limit after 12 cycles charging alone while ``cp2`` (max_a 10 A) is
    configured but out of reach, its car drawing nothing yet."""
    r = Regulator({})
    lim = 0.0
    t = 0
    for _ in range(12):
        site = dict(SITE, grid_a=[HOUSE_A + lim] * 3)
        # cp1 holds the limit it was given, 0 A included (with no limit in force it
        # could itself draw its rating, and starting it at 6 A would only lower that)
        out = r.step(t, site, [dict(_charging("cp1", lim), delivered_a=lim), dict(cp2)])
        lim = out["chargers"][0]["limit_a"]
        assert out["chargers"][1]["limit_a"] == 0.0
        t += 5
    return lim


def test_a_charger_never_set_up_may_draw_its_own_rating():
    # cp2 has never taken our fallback profile (a board short of memory refused or lost
    # its setup, or it has not connected since boot): a real charger without a profile
    # charges at its own default, here its max_a of 10 A, as soon as a car is plugged in.
    # The room is 25 - 2 - 10 = 13 A; with cp2 at 10 A, 3 A are left for cp1, below its
    # 6 A minimum: cp1 does not start. Counted at the fallback (6 A) instead, cp1 would
    # get 7 A, and 10 + 10 + 7 = 27 A on a 25 A breaker once cp2's car starts.
    never = {"id": "cp2", "status": "Unavailable", "connected": False, "max_a": 10}
    assert _alone(never) == 0.0
    assert _alone(dict(never, fallback_held=False)) == 0.0


def test_a_charger_holding_our_fallback_counts_at_the_fallback():
    # The same with cp2's fallback profile known installed: it draws 6 A at most, which
    # leaves cp1 13 - 6 = 7 A.
    held = {"id": "cp2", "status": "Unavailable", "connected": False, "max_a": 10, "fallback_held": True}
    assert _alone(held) == 7.0
