"""Run the dual-runtime tests (tests/dual/test_*.py) without pytest.

Used on the MicroPython unix port: `MICROPYPATH=firmware:.:tests/dual micropython tests/dual/run.py`.
Each module's `test_*` functions are called in name order; an exception is a failure.
"""
import gc
import os
import sys

HERE = "tests/dual"


def main(argv):
    names = sorted(n[:-3] for n in os.listdir(HERE) if n.startswith("test_") and n.endswith(".py"))
    if len(argv) > 1:
        names = [n for n in names if n in argv[1:]]
    passed = failed = 0
    for modname in names:
        mod = __import__(modname)
        tests = sorted(k for k in dir(mod) if k.startswith("test_"))
        for t in tests:
            fn = getattr(mod, t)
            gc.collect()    # each test starts on a collected heap, as it would alone
            try:
                fn()
                passed += 1
            except Exception as e:  # report every failure, keep going
                failed += 1
                print("FAIL %s.%s: %s: %s" % (modname, t, type(e).__name__, e))
                if hasattr(sys, "print_exception"):
                    sys.print_exception(e)
    impl = sys.implementation.name
    print("dual tests on %s: %d passed, %d failed" % (impl, passed, failed))
    if failed or not passed:
        sys.exit(1)


main(sys.argv)
