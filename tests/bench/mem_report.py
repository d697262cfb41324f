"""Build the unix-sim tree and print the heap cost of every firmware module.

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
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "micropython"), "-X", "heapsize=1M",
                        os.path.join(ROOT, "tests", "bench", "mem_modules.py")],
                       cwd=tree, env=env, capture_output=True, text=True)
    print(r.stdout + r.stderr, end="")
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
