"""Which MQTT (and configuration) modules a fresh interpreter holds after each step of using the
link; one JSON line per step. Run by test_mqtt_modules.py on CPython and MicroPython."""
import json
import sys


def loaded():
    return sorted(n for n in sys.modules if n.startswith("dynevse.mqtt.") or n.startswith("dynevse.config."))


def step(name):
    sys.stdout.write(json.dumps({"step": name, "modules": loaded()}) + "\n")


class Client:
    """Stands in for the connection: accepts everything, connected."""
    last_error = ""

    def publish(self, topic, payload, retain=False, qos=0):
        return True

    def subscribe(self, f, qos=0):
        pass

    def connected(self):
        return True

    def status(self):
        return {"state": "connected"}


from dynevse.aio import forget  # noqa: E402
from dynevse.mqtt.link import Link      # noqa: E402
from dynevse.mqtt.state import snapshot  # noqa: E402
step("imported")
# the board checks its settings at boot and forgets the configuration's code after
from dynevse.config.check import check_mqtt  # noqa: E402
cfg = check_mqtt({"host": "127.0.0.1", "inputs": {"solar": {"topic": "pv"}}}, "b1")
del check_mqtt
forget(("dynevse.config.",))
link = Link(cfg, "b1", client=Client(), on_command=lambda target, key, value: None)
step("link")
link.register("Panel", 3, False, [{"id": "cp1"}])
step("registered")
link.publish_state(*snapshot({}, {"mode": "eco"}, [{"id": "cp1"}]))
link._on_message("dynevse/b1/site/mode/set", b"solar", False)
link._on_message("dynevse/b1/site/mode/set", b"turbo", False)
step("commands")
st = link.status()
sys.stdout.write(json.dumps({"step": "status", "commands": st["commands"], "refused": st["commands_refused"],
                             "modules": loaded()}) + "\n")
