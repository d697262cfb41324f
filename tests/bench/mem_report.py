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
from host_tools.run import rom_prelude  # noqa: E402


def main():
    build.build("unix-sim")
    tree = os.path.join(ROOT, "build", "unix-sim")
    env = dict(os.environ, MICROPYPATH=".frozen:lib")
    modules = os.path.join(ROOT, "tests", "bench", "mem_modules.py")
    code = 0
    # from the .mpy files, then from the image (host_tools.run's prelude mounts it first)
    for how in (["-X", "heapsize=1M", modules],
                ["-X", "heapsize=1M", "-c", rom_prelude(build.romfs_image(tree)) + "exec(open(%r).read())" % modules]):
        r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "micropython")] + how,
                           cwd=tree, env=env, capture_output=True, text=True)
        print(r.stdout + r.stderr, end="")
        code = code or r.returncode
    return code


if __name__ == "__main__":
    sys.exit(main())
