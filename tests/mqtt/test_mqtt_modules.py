"""Boot-only and occasional code does not stay loaded: a fresh interpreter (CPython, and
the MicroPython unix port on the .mpy files) imports the link, validates settings,
registers, takes commands and reads the status page; after each step only the resident
MQTT modules are in memory (not the configuration package, registration, discovery, commands, connect or counters)."""
import json
import os
import subprocess
import sys

import pytest

from mqtt_harness import MICROPYTHON, ROOT, RUNTIMES

RESIDENT = ["dynevse.mqtt.client", "dynevse.mqtt.inputs", "dynevse.mqtt.link", "dynevse.mqtt.packet",
            "dynevse.mqtt.state"]


def probe(runtime, mpy_dir):
    script = os.path.join(ROOT, "tests", "mqtt", "modules_probe.py")
    env = dict(os.environ)
    if runtime == "micropython":
        env["MICROPYPATH"] = ".frozen:" + mpy_dir
        cmd = [MICROPYTHON, script]
    else:
        env["PYTHONPATH"] = os.path.join(ROOT, "firmware")
        cmd = [sys.executable, script]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_only_the_resident_modules_stay(runtime, firmware_mpy):
    steps = probe(runtime, firmware_mpy)
    assert [s["step"] for s in steps] == ["imported", "link", "registered", "commands", "status"]
    for s in steps:
        assert s["modules"] == RESIDENT, s
    by = {s["step"]: s for s in steps}
    # one command applied, one refused (an unknown mode): the command code and the
    # configuration's tables were loaded for each and dropped after
    assert by["status"]["commands"] == 1 and by["status"]["refused"] == 1
