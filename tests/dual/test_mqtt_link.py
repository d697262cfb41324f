"""The Link alone, with a stand-in for its client: commands, state, discovery bookkeeping.

Unit tests of dynevse.mqtt.link only; the client is replaced by a recorder so that
each decision can be checked message by message. Runs under pytest and MicroPython.
"""
import asyncio
import json

from dualtest import raises
from dynevse.config.schema import ConfigError
from dynevse.mqtt import discovery as D
from dynevse.mqtt import state as S
from dynevse.mqtt import counters
from dynevse.config import check as C
from dynevse.mqtt.link import Link


class FakeClient:
    def __init__(self):
        self.sent = []          # (topic, payload, retain, qos)
        self.subs = []
        self.unsubs = []
        self.up = True
        self.last_error = ""
        self.on_message = None
        self.on_connect = None

    def publish(self, topic, payload, retain=False, qos=0):
        if isinstance(payload, str):
            payload = payload.encode()
        self.sent.append((topic, payload, retain, qos))
        return True

    def subscribe(self, f, qos=0):
        self.subs.append((f, qos))

    def unsubscribe(self, f):
        self.unsubs.append(f)

    def connected(self):
        return self.up

    def room(self):
        return True

    async def flushed(self):
        pass

    def status(self):
        return {"state": "connected" if self.up else "waiting"}

    def to(self, topic):
        return [s for s in self.sent if s[0] == topic]


class Clock:
    def __init__(self):
        self.t = 0

    def __call__(self):
        return self.t


def make(inputs=None, on_command=None, **cfg):
    fc = FakeClient()
    clock = Clock()
    c = {"host": "127.0.0.1", "state_period_s": 10}
    c.update(cfg)
    if inputs:
        c["inputs"] = inputs
    link = Link(C.check_mqtt(c, "b1"), "b1", on_command=on_command, clock=clock, client=fc)
    link.register("Panel", 3, True, [{"id": "cp1"}, {"id": "cp2", "name": "Garage"}], "http://192.0.2.1/")
    return link, fc, clock


def js(d, table=S.SITE):
    """A state as ``state.snapshot`` writes it, from a dict (every key of the table)."""
    return S.encode(" ".join(k + " 0 " + k for k in table.split()[::3]), (d,))


def states(site, chargers):
    """publish_state's arguments from dicts."""
    return (None if site is None else js(site)), [(c["id"], js(c, S.CHARGER)) for c in chargers]


def run(coro):
    asyncio.new_event_loop()
    return asyncio.run(coro)


def test_subscribes_to_commands_and_inputs():
    link, fc, clock = make({"solar": {"topic": "pv/power"}, "grid_l1": {"topic": "meter/l1"}})
    assert ("dynevse/b1/site/+/set", 1) in fc.subs and ("dynevse/b1/charger/+/+/set", 1) in fc.subs
    assert ("pv/power", 0) in fc.subs and ("meter/l1", 0) in fc.subs
    fc.on_message("pv/power", b"1500", False)
    assert link.readings()["solar_w"] == 1500


def test_valid_command_reaches_the_app_and_is_confirmed_in_state():
    calls = []
    link, fc, clock = make(on_command=lambda t, k, v: calls.append((t, k, v)))
    link.publish_state(*states({"mode": "standard", "status": "ok"}, [{"id": "cp1", "mode": "default"}]))
    link._publish_states()
    before = len(fc.to("dynevse/b1/site/state"))
    fc.on_message("dynevse/b1/site/mode/set", b"eco", False)
    fc.on_message("dynevse/b1/charger/cp1/mode/set", b"default", False)
    assert calls == [("site", "mode", "eco"), ("cp1", "mode", "")]
    link._publish_states()
    # the new value goes out at once, without waiting for the next control cycle
    site = fc.to("dynevse/b1/site/state")
    assert len(site) == before + 1 and json.loads(site[-1][1])["mode"] == "eco"
    assert json.loads(fc.to("dynevse/b1/charger/cp1/state")[-1][1])["mode"] == "default"
    assert not fc.to("dynevse/b1/diagnostics")
    assert link.status()["commands"] == 2
    assert len(counters.LINK.split()) == len(link.n)


def test_bad_commands_are_refused_on_the_diagnostics_topic_and_change_nothing():
    calls = []
    link, fc, clock = make(on_command=lambda t, k, v: calls.append((t, k, v)))
    for topic, payload, retained in (("dynevse/b1/site/mode/set", b"turbo", False),
                                      ("dynevse/b1/charger/cp1/max_a/set", b"500", False),
                                      ("dynevse/b1/charger/cp9/max_a/set", b"10", False),
                                      ("dynevse/b1/site/mode/set", b"eco", True),
                                      ("dynevse/b1/site/nonsense/set", b"1", False)):
        fc.on_message(topic, payload, retained)
    assert calls == []
    diag = fc.to("dynevse/b1/diagnostics")
    assert len(diag) == 5 and not any(d[2] for d in diag)     # not retained
    first = json.loads(diag[0][1])
    assert first["topic"] == "dynevse/b1/site/mode/set" and first["field"] == "site.mode"
    # the options as Home Assistant shows them (the select's words)
    assert "turbo" in first["error"] and "'Standard'" in first["error"]
    assert json.loads(diag[1][1])["field"] == "chargers[cp1].max_a"
    st = link.status()
    assert st["commands_refused"] == 5 and st["commands"] == 0 and "site.nonsense" in st["last_refusal"]


def test_the_app_may_refuse_too():
    def apply(target, key, value):
        if key == "min_a":
            raise ConfigError("chargers[0].min_a", "must not be above max_a (16 A), got 20")
        raise RuntimeError("flash full")

    link, fc, clock = make(on_command=apply)
    link.publish_state(*states({}, [{"id": "cp1", "min_a": 6}]))
    fc.on_message("dynevse/b1/charger/cp1/min_a/set", b"20", False)
    fc.on_message("dynevse/b1/charger/cp1/max_a/set", b"20", False)
    diag = [json.loads(d[1]) for d in fc.to("dynevse/b1/diagnostics")]
    assert diag[0]["field"] == "chargers[0].min_a" and "max_a" in diag[0]["error"]
    assert "flash full" in diag[1]["error"]
    # refused: the state keeps the old value
    link._publish_states()
    assert json.loads(fc.to("dynevse/b1/charger/cp1/state")[-1][1])["min_a"] == 6


def test_state_goes_out_on_change_and_at_least_every_period():
    link, fc, clock = make()
    site = {"mode": "eco", "net_w": 100}
    link.publish_state(*states(site, [{"id": "cp1", "allocated_a": 6.0}, {"id": "ghost", "allocated_a": 1}]))
    link._publish_states()
    assert len(fc.to("dynevse/b1/site/state")) == 1 and len(fc.to("dynevse/b1/charger/cp1/state")) == 1
    assert fc.to("dynevse/b1/site/state")[0][2] is True          # retained
    assert not fc.to("dynevse/b1/charger/ghost/state")            # not registered
    clock.t = 5000
    link.publish_state(*states({"net_w": 100, "mode": "eco"}, [{"id": "cp1", "allocated_a": 6.0}]))
    link._publish_states()
    assert len(fc.to("dynevse/b1/site/state")) == 1              # same state: nothing new
    link.publish_state(*states({"mode": "eco", "net_w": 120}, [{"id": "cp1", "allocated_a": 6.0}]))
    link._publish_states()
    assert len(fc.to("dynevse/b1/site/state")) == 2              # changed
    assert len(fc.to("dynevse/b1/charger/cp1/state")) == 1
    clock.t = 10000                                               # 10 s since cp1 went out
    link._publish_states()
    assert len(fc.to("dynevse/b1/charger/cp1/state")) == 2
    assert len(fc.to("dynevse/b1/site/state")) == 2               # only 5 s since the change


def test_discovery_announces_everything_and_sweeps_leftovers():
    link, fc, clock = make()
    t = D.Topics(link.cfg)

    async def main():
        task = asyncio.create_task(link._announce())
        await asyncio.sleep(0.1)
        # what the broker hands over on the sweep subscription: retained configs
        stale = t.config("sensor", t.object_id("old9", "status"))
        ours = t.config("number", t.object_id("cp1", "max_a"))
        foreign = "homeassistant/sensor/other_node/x/config"
        fc.on_message(stale, b'{"name":"x"}', True)
        fc.on_message(ours, b'{"name":"x"}', True)
        fc.on_message(foreign, b'{"name":"x"}', True)
        fc.on_message(stale, b'{"name":"x"}', False)    # not retained: our own echo
        await task
        return stale, ours

    stale, ours = run(main())
    configs = [s for s in fc.sent if s[0].endswith("/config") and s[1]]
    hub_rows = len(list(D.entities(D.HUB, 3, True)))
    assert len(configs) == hub_rows + 2 * len(list(D.entities(D.CHARGER)))
    assert all(s[2] for s in configs), "discovery is retained"
    removed = [s[0] for s in fc.sent if not s[1]]
    assert removed == [stale]
    assert fc.subs[-1][0] == t.sweep_filter() and fc.unsubs == [t.sweep_filter()]
    assert link.status()["discovery"] == "done"


def test_unregistered_charger_and_battery_are_removed():
    link, fc, clock = make()
    run(link._announce())
    fc.sent = []
    link.register("Panel", 1, False, [{"id": "cp2"}], "http://192.0.2.1/")
    run(link._announce())
    removed = sorted(s[0] for s in fc.sent if not s[1])
    t = D.Topics(link.cfg)
    # cp1 goes whole (its entities, its retained state and link topics); the hub loses
    # what a 1-phase site without a battery lacks: phases 2 and 3, the battery's entities
    want = sorted([t.config(r[1], t.object_id("cp1", r[0])) for r in D.entities(D.CHARGER)]
                  + ["dynevse/b1/charger/cp1/state", "dynevse/b1/charger/cp1/status"]
                  + [t.config("number", "hub_soc_min"), t.config("number", "hub_soc_target"),
                     t.config("sensor", "hub_battery_soc"), t.config("sensor", "hub_battery_w"),
                     t.config("sensor", "hub_grid_a_l2"), t.config("sensor", "hub_grid_a_l3"),
                     t.config("sensor", "hub_available_a_l2"), t.config("sensor", "hub_available_a_l3")])
    assert removed == want


def test_discovery_stops_when_the_link_is_down():
    link, fc, clock = make()
    fc.up = False
    run(link._announce())
    assert "discovery" in fc.last_error and "not connected" in fc.last_error
    assert link.status()["discovery"] == "pending" and fc.unsubs == [D.Topics(link.cfg).sweep_filter()]
    assert not [s for s in fc.sent if s[0].endswith("/config")]


def test_the_announcement_waits_for_the_chargers_setup():
    # while a charger is being set up (link.hold says so) nothing is announced, not even
    # a new registration; the first tick after it the whole announcement goes out
    async def main():
        link, fc, clock = make()
        busy = [True]
        link.hold = lambda: busy[0]
        link.register("Panel", 3, True, [{"id": "cp1", "vendor": "Acme"}], "http://192.0.2.1/")
        for _ in range(5):
            link._pump()            # ticks while the setup runs
            await asyncio.sleep(0.01)
        assert [s for s in fc.sent if s[0].endswith("/config")] == []
        assert link._task is None
        busy[0] = False
        link._pump()
        await link._task
        configs = [s for s in fc.sent if s[0].endswith("/config") and s[1]]
        return link, configs

    link, configs = run(main())
    assert len(configs) == len(list(D.entities(D.HUB, 3, True))) + len(list(D.entities(D.CHARGER)))
    assert b'"manufacturer":"Acme"' in configs[-1][1]
    assert link.status()["discovery"] == "done"
