"""The firmware under the MicroPython unix port on a state directory (the board's
filesystem), as the e2e tests start it, stop it and start it again."""
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "mqtt")]

from host_tools import build  # noqa: E402
from host_tools.run import start_firmware  # noqa: E402


def build_id():
    with open(os.path.join(ROOT, "build", "unix-sim", "build_id.txt")) as f:
        return f.read().strip()


def checked_key(text):
    """The key the firmware gives the checked copy of a config.json with this text
    (dynevse.config.store.key: the build id and the text's CRC-32)."""
    import binascii
    return "%s:%08x" % (build_id(), binascii.crc32(text.encode()) & 0xffffffff)


def checked_copy(state):
    """(key, configuration) of the state's checked copy (dynevse.config.store's format:
    the key, the CRC of the rest, the configuration's JSON, one per line)."""
    key, crc, text = read(state, "config.json.checked").decode().split("\n", 2)
    return key, json.loads(text)


def write_checked_copy(state, key, cfg):
    """A checked copy as the firmware writes one."""
    import binascii
    text = json.dumps(cfg)
    write(state, "config.json.checked", "%s\n%08x\n%s" % (key, binascii.crc32(text.encode()) & 0xffffffff, text))


def read(state, name="config.json"):
    with open(os.path.join(state, name), "rb") as f:
        return f.read()


def write(state, name, data):
    with open(os.path.join(state, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def lines(fw):
    return list(fw.lines)


def wait_line(fw, text, timeout=30, after=0):
    """The first output line (from index ``after``) containing ``text``; fails with the
    firmware's last lines when none comes in ``timeout`` s."""
    end = time.time() + timeout
    while time.time() < end:
        ls = lines(fw)
        for line in ls[after:]:
            if text in line:
                return line
        time.sleep(0.1)
    raise AssertionError("no %r in the firmware's output:\n%s" % (text, "\n".join(lines(fw)[-25:])))


def boot(state, config=None, rebuild=False, prelude="", cycles=2, timeout=40):
    """Start the firmware on ``state`` (``config``: written first; None keeps the state's
    config.json) and wait until its control loop has run ``cycles`` cycles (0: don't wait)."""
    fw = start_firmware(config, state_dir=state, rebuild=rebuild, prelude=prelude)
    if cycles:
        wait_line(fw, "cycle %d:" % cycles, timeout)
    return fw


def ensure_built():
    build.build("unix-sim")


def saved(state):
    return json.loads(read(state))
