"""Build the unix-sim tree and print the heap cost of every firmware module.

    python tests/bench/mem_report.py                         # make mem
    python tests/bench/mem_report.py --model esp32           # make mem MODEL=esp32
    python tests/bench/mem_report.py --model esp32 --frozen  # make mem MODEL=esp32 FROZEN=1

On the 64-bit PyPI port (default) or the 32-bit board model (``--model esp32``, whose
figures are the board's): the modules loaded from .mpy files as the stock firmware loads
them, then in total with the code run in place from a ROMFS image; with ``--frozen`` from
the model with the firmware frozen in as well (host_tools.board_model), the stand-in for
our ESP32 image.
"""
import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from host_tools import build  # noqa: E402
from host_tools.run import MICROPYTHON, rom_prelude  # noqa: E402

MODULES = os.path.join(ROOT, "tests", "bench", "mem_modules.py")
# loaded for one use and forgotten, or host-side only: not in the resident list
_NOT_RESIDENT = ("standalone", "setup", "answers", "summary", "texts", "server", "accept", "clock", "config", "discovery",
                 "commands", "connect", "counters", "registration")


def package_modules():
    """The OCPP and MQTT modules that stay loaded while the firmware runs, from the source."""
    names = []
    for pkg in ("ocpp", "mqtt"):
        for f in sorted(os.listdir(os.path.join(ROOT, "firmware", "dynevse", pkg))):
            if f.endswith(".py") and f != "__init__.py" and f[:-3] not in _NOT_RESIDENT:
                names.append("dynevse.%s.%s" % (pkg, f[:-3]))
    return names


def measure(micropython, tree, where, args):
    env = dict(os.environ, MICROPYPATH=".frozen" if where == "frozen" else ".frozen:lib",
               DYNEVSE_MEM_FROM=where, DYNEVSE_MEM_MODULES=",".join(package_modules()))
    r = subprocess.run([micropython, "-X", "heapsize=1M"] + args, cwd=tree, env=env,
                       capture_output=True, text=True)
    print(r.stdout + r.stderr, end="")
    return r.returncode


def main(argv):
    p = argparse.ArgumentParser(description="heap cost of each firmware module")
    p.add_argument("--model", choices=("esp32",), default=None,
                   help="on the 32-bit board model (make board-model) instead of the 64-bit port")
    p.add_argument("--frozen", action="store_true", help="with --model esp32: also with the firmware frozen in")
    args = p.parse_args(argv)
    if args.frozen and args.model != "esp32":
        print("mem: FROZEN=1 needs MODEL=esp32 (only the board model has the firmware frozen in)", file=sys.stderr)
        return 2
    micropython = MICROPYTHON
    if args.model:
        from host_tools import board_model
        try:
            micropython = board_model.build(quiet=True)
            frozen = board_model.build(frozen=True, quiet=True) if args.frozen else None
        except board_model.ModelError as e:
            print(e, file=sys.stderr)
            return 2
    print("mem: %s" % ("32-bit board model (%s)" % os.path.relpath(micropython, ROOT) if args.model
                       else "64-bit unix port (objects about twice the board's; MODEL=esp32 for the board)"))
    build.build("unix-sim")
    tree = os.path.join(ROOT, "build", "unix-sim")
    code = measure(micropython, tree, "mpy", [MODULES])
    code = code or measure(micropython, tree, "rom", ["-c", rom_prelude(build.romfs_image(tree)) +
                                                      "exec(open(%r).read())" % MODULES])
    if args.frozen:
        frozen_tree = os.path.join(ROOT, "build", "unix-sim-frozen")
        build.build("unix-sim", frozen_tree, code=False)
        code = code or measure(frozen, frozen_tree, "frozen", [MODULES])
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
