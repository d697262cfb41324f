"""Build the unix-sim tree and print the heap cost of every firmware module, loaded from
.mpy files as a board loads them, then in total with the code run in place from a ROMFS
image (what frozen modules or a ROMFS partition would leave in the heap).

    python tests/bench/mem_report.py
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from host_tools import build  # noqa: E402


def main():
    build.build("unix-sim")
    tree = os.path.join(ROOT, "build", "unix-sim")
    env = dict(os.environ, MICROPYPATH=".frozen:lib")
    code = 0
    for extra in ([], [build.romfs_image(tree)]):
        r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "micropython"), "-X", "heapsize=1M",
                            os.path.join(ROOT, "tests", "bench", "mem_modules.py")] + extra,
                           cwd=tree, env=env, capture_output=True, text=True)
        print(r.stdout + r.stderr, end="")
        code = code or r.returncode
    return code


if __name__ == "__main__":
    sys.exit(main())
