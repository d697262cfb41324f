"""The simulator end to end (real broker, the firmware under the MicroPython unix port,
PyPI-ocpp charge points), and the pieces whose numbers the run depends on: the simulated
charger's profile stacking, the household's steps, the configuration the firmware gets."""
import os
import re
import subprocess
import sys

from host_tools import sim
from host_tools.sim_charger import ProfileStack, SimCharger, iso_utc
from host_tools.site_model import Car

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUMMARY = re.compile(r"^sim: chargers=(\d+) profiles=(\d+) energy_kwh=(\d+\.\d{3}) "
                     r"max_phase_a=(\d+\.\d{2}) breaker_a=(\d+(?:\.\d+)?)$")
CHARGER_LINE = re.compile(r"^sim: (cp\d) profiles=(\d+) accepted=(\d+) energy_kwh=(\d+\.\d+) ")
RUN_S = 40


def test_sim_run_keeps_under_the_breaker_and_charges_both_cars():
    r = subprocess.run([sys.executable, "-m", "host_tools.sim", "--duration", str(RUN_S)], cwd=ROOT,
                       capture_output=True, text=True, timeout=RUN_S + 60, stdin=subprocess.DEVNULL)
    why = "exit %s\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr[-4000:])
    out = r.stdout.splitlines()
    assert len(out) == 1, why                      # exactly the summary line on stdout
    m = SUMMARY.match(out[0])
    assert m, why
    chargers, profiles = int(m.group(1)), int(m.group(2))
    energy_kwh, max_phase_a, breaker_a = float(m.group(3)), float(m.group(4)), float(m.group(5))
    assert r.returncode == 0, why
    assert chargers == 2 and breaker_a == 25, why
    assert max_phase_a <= breaker_a, why
    # Both cars charge at >= 6 A on 3 phases for most of the run (cp1 from the start,
    # cp2 from 6 s): well above 6 A x 3 x 230 V x 20 s = 0.028 kWh each.
    assert energy_kwh > 0.05, why
    # Once both cars charge the firmware shares the 23 A it plans to among them, so the
    # grid gets close to it: the breaker really was the binding limit, the cars were not
    # simply kept low.
    assert max_phase_a >= 20, why
    per = {}
    for line in r.stderr.splitlines():
        c = CHARGER_LINE.match(line)
        if c:
            per[c.group(1)] = (int(c.group(2)), int(c.group(3)), float(c.group(4)))
    assert sorted(per) == ["cp1", "cp2"], why
    for cp, (received, accepted, kwh) in per.items():
        # the fallback profile at connect, then at least one dynamic limit from the control loop
        assert received >= 2 and accepted == received, (cp, why)
        assert kwh > 0, (cp, why)
    assert profiles == sum(p[0] for p in per.values()), why


# ---- the simulated charger's profiles ----------------------------------------------

T0 = 1_700_000_000.0


def _profile(pid, level, limit, purpose="TxDefaultProfile", duration=None, unit="A", phases=None,
             kind="Relative", start=None, periods=None):
    sched = {"charging_rate_unit": unit,
             "charging_schedule_period": periods or [{"start_period": 0, "limit": limit}]}
    if phases is not None:
        sched["charging_schedule_period"][0]["number_phases"] = phases
    if duration is not None:
        sched["duration"] = duration
    if start is not None:
        sched["start_schedule"] = iso_utc(start)
    return {"charging_profile_id": pid, "stack_level": level, "charging_profile_purpose": purpose,
            "charging_profile_kind": kind, "charging_schedule": sched}


def test_profile_stack_highest_level_until_it_expires():
    s = ProfileStack(max_stack_level=8)
    assert s.limit_a(T0) is None                      # no profile: the charger's own maximum
    # the firmware's pair: a fallback without end one level below the dynamic limit
    assert s.set(0, _profile(10, 1, 6.0), T0) == "Accepted"
    assert s.set(0, _profile(11, 2, 10.0, duration=600), T0) == "Accepted"
    assert s.limit_a(T0 + 1) == 10.0                  # level 2 beats level 1
    assert s.limit_a(T0 + 599.9) == 10.0              # still inside its 600 s
    assert s.limit_a(T0 + 600) == 6.0                 # expired: the fallback shows through
    # sent again (same id) 300 s later: in force for 600 s from then
    assert s.set(0, _profile(11, 2, 12.0, duration=600), T0 + 300) == "Accepted"
    assert s.limit_a(T0 + 899) == 12.0
    assert s.limit_a(T0 + 900) == 6.0


def test_profile_stack_replaces_same_level_and_purpose():
    s = ProfileStack()
    s.set(0, _profile(11, 2, 10.0), T0)
    # another id at the same purpose, level and connector replaces it (OCPP 1.6 3.13.2)
    s.set(0, _profile(12, 2, 8.0), T0)
    assert sorted(s.profiles) == [12] and s.limit_a(T0) == 8.0
    # a higher level that is lower in amps still wins: the stack decides, not the minimum
    s.set(0, _profile(13, 3, 7.0), T0)
    assert s.limit_a(T0) == 7.0


def test_profile_stack_watts_purposes_and_clearing():
    s = ProfileStack()
    # 6900 W on 3 phases at 230 V is 10 A per phase; without numberPhases the car's phases count
    s.set(0, _profile(1, 1, 6900.0, unit="W", phases=3), T0)
    assert abs(s.limit_a(T0) - 10.0) < 1e-9
    s.set(0, _profile(1, 1, 2300.0, unit="W"), T0)
    assert abs(s.limit_a(T0, car_phases=1) - 10.0) < 1e-9
    # a TxProfile needs a transaction; with one it beats every TxDefaultProfile
    assert s.set(1, _profile(5, 0, 16.0, purpose="TxProfile"), T0) == "Rejected"
    assert s.set(1, _profile(5, 0, 16.0, purpose="TxProfile"), T0, transaction_id=7) == "Accepted"
    assert s.limit_a(T0) == 16.0
    # a ChargePointMaxProfile caps whatever the transaction profiles say
    assert s.set(1, _profile(6, 0, 8.0, purpose="ChargePointMaxProfile"), T0) == "Rejected"   # connector 0 only
    s.set(0, _profile(6, 0, 8.0, purpose="ChargePointMaxProfile"), T0)
    assert s.limit_a(T0) == 8.0
    s.end_transaction()                                # the TxProfile goes with its transaction
    # the TxDefaultProfile again: 2300 W on a 3-phase car is 2300 / 690 = 3.3 A, under the
    # 8 A cap; on a 1-phase car it is 10 A, which the cap brings down to 8 A
    assert abs(s.limit_a(T0, car_phases=3) - 2300 / 690) < 1e-9
    assert s.limit_a(T0, car_phases=1) == 8.0
    assert s.clear(purpose="ChargePointMaxProfile") == "Accepted"
    assert abs(s.limit_a(T0, car_phases=3) - 2300 / 690) < 1e-9
    assert s.clear(profile_id=99) == "Unknown"
    assert s.clear(purpose="TxDefaultProfile") == "Accepted" and s.limit_a(T0) is None
    # above the charger's ChargeProfileMaxStackLevel: refused
    assert s.set(0, _profile(2, 9, 10.0), T0) == "Rejected"


def test_profile_stack_tx_profile_only_for_the_running_transaction():
    s = ProfileStack()
    p = _profile(5, 2, 10.0, purpose="TxProfile")
    p["transaction_id"] = 7
    assert s.set(1, p, T0, transaction_id=8) == "Rejected"      # another transaction's
    assert s.set(0, p, T0, transaction_id=7) == "Rejected"      # connector 0: no transaction there
    assert s.set(1, p, T0, transaction_id=7) == "Accepted"


def test_sim_charger_takes_only_what_it_is_told_and_a_lapsed_limit_falls_back():
    now = [T0]
    c = SimCharger("cp1", "ws://unused", Car({"phases": 3}, 3), max_a=16.0, clock=lambda: now[0],
                   units=("W",), purposes=("ChargePointMaxProfile", "TxDefaultProfile"))
    c.plugged = True
    c.transaction_id = 3
    # in A, or as a TxProfile: rejected, whatever the stack would say
    assert c.on_profile(0, _profile(11, 2, 10.0, duration=180)) == "Rejected"
    tx = _profile(11, 2, 6900.0, unit="W", purpose="TxProfile", duration=180)
    tx["transaction_id"] = 3
    assert c.on_profile(1, tx) == "Rejected"
    assert c.offered_a == 16.0                                   # no profile: its full rating
    # the board's pair in W: the fallback (4140 W = 6 A on 3 phases) and a limit of 10 A for 180 s
    assert c.on_profile(0, _profile(10, 1, 4140.0, unit="W", phases=3)) == "Accepted"
    assert c.on_profile(0, _profile(11, 2, 6900.0, unit="W", phases=3, duration=180)) == "Accepted"
    assert abs(c.offered_a - 10.0) < 1e-9
    # nothing sent again: at 180 s the limit lapses and the charger offers the fallback
    now[0] = T0 + 179.9
    c.tick(0.1)
    assert abs(c.offered_a - 10.0) < 1e-9
    now[0] = T0 + 180
    c.tick(0.1)
    assert abs(c.offered_a - 6.0) < 1e-9
    # with no fallback (a charger of stack level 0) the lapse gives back its full rating
    c.profiles.clear(profile_id=10)
    c.tick(0.1)
    assert c.offered_a == 16.0
    assert (c.profiles_received, c.profiles_accepted) == (4, 2)


def test_profile_stack_absolute_schedule_periods():
    s = ProfileStack()
    periods = [{"start_period": 0, "limit": 16.0}, {"start_period": 60, "limit": 8.0}]
    # an Absolute schedule that began 30 s ago: its clock runs from startSchedule, not receipt
    s.set(0, _profile(1, 1, None, kind="Absolute", start=T0 - 30, duration=120, periods=periods), T0)
    assert s.limit_a(T0) == 16.0                       # 30 s in: the first period
    assert s.limit_a(T0 + 40) == 8.0                   # 70 s in: the second
    assert s.limit_a(T0 + 90) is None                  # 120 s in: over
    assert s.limit_a(T0 - 31) is None                  # before it starts: not yet in force


# ---- the site the simulator runs ---------------------------------------------------

def test_household_steps_fit_the_margin_and_are_spaced():
    """The run can stay under the breaker honestly only if every step of the house is
    inside the firmware's margin and the loop has answered one step before the next."""
    margin = sim.SITE["breaker_margin_a"]
    for cycle_s in (1, 5, 10):
        house = sim.Household(cycle_s)
        dt = 0.25
        prev, _ = house.load_a(0)
        last_step_t = None
        t = dt
        while t < 2 * house.period_s:
            load, _ = house.load_a(t)
            delta = max(abs(load[k] - prev[k]) for k in range(3))
            if delta > 1e-9:
                assert delta <= sim.HOUSE_STEP_A < margin, (cycle_s, t, delta)
                if last_step_t is not None:
                    assert t - last_step_t >= 2 * cycle_s + 2 - dt, (cycle_s, t)
                last_step_t = t
            prev = load
            t += dt
        # the heat pump, washing machine and oven come and go: the house returns to its base
        assert house.load_a(house.period_s)[0] == list(sim.HOUSE_BASE_A)


def test_sim_config_is_what_the_firmware_accepts():
    from dynevse.config.check import check
    cfg = check(sim.sim_config(8080, 1883, cycle_s=5))
    assert cfg["web"]["port"] == 8080 and cfg["control"]["grid_source"] == "mqtt"
    assert sorted(cfg["mqtt"]["inputs"]) == ["battery_power", "battery_soc", "grid_l1", "grid_l2",
                                             "grid_l3", "solar"]
    assert cfg["site"]["breaker_a"] - cfg["site"]["breaker_margin_a"] == 23
