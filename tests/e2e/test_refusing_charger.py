"""Issue 13, case 2, with everything real: the firmware under the MicroPython unix port, a
Mosquitto broker, two PyPI-``ocpp`` charge points (host_tools.sim_charger) and the site's
physics (host_tools.site_model) published as a smart meter would.

cp1 rejects every charging profile (TxDefaultProfile, TxProfile, ChargePointMaxProfile,
in A and in W) and its car keeps drawing its 16 A. A second car then plugs into cp2. The
board must count cp1's draw as a fixed load and give cp2 only what is left, so the grid
stays under the breaker.

Why the numbers: breaker 32 A with a 2 A margin (the board plans to 30 A), a house of 3 A
on every phase, both cars 3-phase. With cp1's 16 A as fixed load cp2 gets at most
30 - 3 - 16 = 11 A and the grid stays at or below 30 A. Without it the board shares the
27 A left after the house between both chargers (13.5 A each): cp1 still draws 16 A and
the grid goes to 3 + 16 + 13.5 = 32.5 A, over the breaker (what the issue saw).
cp2's car follows a new limit 5-7 s late, as real cars do.
"""
import asyncio
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT]

from host_tools import sim  # noqa: E402
from host_tools.broker import free_port, start_broker  # noqa: E402
from host_tools.run import start_firmware  # noqa: E402
from host_tools.sim_charger import SimCharger  # noqa: E402
from host_tools.site_model import Car, SiteModel  # noqa: E402

BREAKER_A = 32
HOUSE_A = 3.0
CP2_PLUG_S = 8.0            # cp1's car is at its 16 A by then (3 A/s from 0)
RUN_S = 40.0


class LateCar(Car):
    """A car that follows a new limit ``delay_s`` (drawn per change) after its charger
    offers it; a car has not started following what it was offered last."""

    def __init__(self, spec, phases, delay_s):
        self.delay_s = delay_s
        self.pending = []
        self.follows = None
        Car.__init__(self, spec, phases)

    @property
    def limit_a(self):
        now = time.monotonic()
        while self.pending and self.pending[0][0] <= now:
            self.follows = self.pending.pop(0)[1]
        return self.follows

    @limit_a.setter
    def limit_a(self, value):
        last = self.pending[-1][1] if self.pending else self.follows
        if value != last:
            self.pending.append((time.monotonic() + random.uniform(*self.delay_s), value))


def config(web_port, mqtt_port):
    cfg = sim.sim_config(web_port, mqtt_port, cycle_s=1)
    cfg["site"] = {"phases": 3, "voltage_v": 230, "breaker_a": BREAKER_A, "breaker_margin_a": 2,
                   "mode": "standard", "distribution": "shared"}
    cfg["chargers"] = [{"id": "cp1", "min_a": 6, "max_a": 16, "phases": 3},
                       {"id": "cp2", "min_a": 6, "max_a": 16, "phases": 3}]
    cfg["ocpp"] = {"meter_sample_interval_s": 2}
    return cfg


async def world(fw, web_port, mqtt_port):
    from amqtt.client import MQTTClient
    site = {"phases": 3, "voltage_v": 230}
    model = SiteModel({"household_a": [HOUSE_A] * 3}, site,
                      [{"id": "cp1", "phases": 3, "car": None}, {"id": "cp2", "phases": 3, "car": None}])
    model.cars = [Car({"max_a": 16.0, "phases": 3}, 3), LateCar({"max_a": 16.0, "phases": 3}, 3, (5.0, 7.0))]
    url = "ws://127.0.0.1:%d/ocpp/" % web_port
    cps = [SimCharger("cp1", url + "cp1", model.cars[0], purposes=()),
           SimCharger("cp2", url + "cp2", model.cars[1])]
    deadline = time.monotonic() + 60
    while not sim._port_open(web_port):
        assert fw.alive() and time.monotonic() < deadline, "\n".join(list(fw.lines)[-20:])
        await asyncio.sleep(0.1)
    mqtt = MQTTClient(client_id="e2e-meter")
    await mqtt.connect("mqtt://127.0.0.1:%d/" % mqtt_port)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in cps]
    seen = {"max_grid_a": 0.0, "cp2_limits": [], "cp2_max_draw_a": 0.0}
    t0 = last = last_pub = time.monotonic()
    cps[0].plug()
    try:
        while time.monotonic() - t0 < RUN_S:
            await asyncio.sleep(0.25)
            now = time.monotonic()
            if now - t0 >= CP2_PLUG_S:
                cps[1].plug()
            for c in cps:
                c.apply_limit()
            model.step(now - last)
            last = now
            for c in cps:
                c.tick(0)
            seen["max_grid_a"] = max(seen["max_grid_a"], max(model.grid_a))
            seen["cp2_max_draw_a"] = max(seen["cp2_max_draw_a"], model.cars[1].draw_a)
            lim = cps[1].profile_limit_a()
            if lim is not None and (not seen["cp2_limits"] or seen["cp2_limits"][-1] != lim):
                seen["cp2_limits"].append(lim)
            if now - last_pub >= 1.0:
                last_pub = now
                for topic, payload in sim.meter_messages(model):
                    await mqtt.publish(topic, payload, qos=0)
            assert fw.alive(), "\n".join(list(fw.lines)[-20:])
        seen["cp1_draw_a"] = model.cars[0].draw_a
        seen["cp1_profiles"] = (cps[0].profiles_received, cps[0].profiles_accepted)
        seen["cp2_draw_a"] = model.cars[1].draw_a
        seen["grid_a"] = list(model.grid_a)
    finally:
        stop.set()
        await asyncio.wait(tasks, timeout=10)
        await mqtt.disconnect()
    return seen


def test_a_charger_that_refuses_every_profile_is_a_fixed_load_and_the_other_is_reduced():
    broker = start_broker()
    web_port = free_port()
    fw = start_firmware(config(web_port, broker.port))
    try:
        seen = asyncio.run(world(fw, web_port, broker.port))
    finally:
        fw.stop()
        broker.stop()
    out = list(fw.lines)
    why = "%r\n%s" % (seen, "\n".join(x for x in out if " cycle " in x or "cp1" in x)[-6000:])
    # cp1 refused everything offered and kept drawing its 16 A
    assert seen["cp1_profiles"][0] >= 6 and seen["cp1_profiles"][1] == 0, why
    assert seen["cp1_draw_a"] == 16.0, why
    assert any("refused every charging profile" in x for x in out), why
    assert any("cp1 Charging 0.0A uncontrolled" in x for x in out), why
    # cp2 got at most what is left (11 A) and its car charges (>= its 6 A minimum)
    assert seen["cp2_limits"] and max(seen["cp2_limits"]) <= 11.0, why
    assert 6.0 <= seen["cp2_draw_a"] <= 11.0, why
    # the physics' truth, sampled every 0.25 s: never over the breaker, nor over the plan
    assert seen["max_grid_a"] <= BREAKER_A - 2 + 0.05, why
