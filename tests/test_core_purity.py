"""The core imports nothing of machine, network, socket, asyncio, os or time.

Checked on the source (every import statement of every core module, and of the pure
modules it uses) and at run time (importing the core under CPython in a fresh
interpreter must not load asyncio or socket, which CPython does not preload).
"""
import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "firmware", "dynevse", "core")
FORBIDDEN = {"machine", "network", "socket", "asyncio", "uasyncio", "os", "time", "utime", "usocket"}
# The core validates settings it is given unchecked with the configuration's own check
# (``config.check``; loaded only then). Its tables (``config.schema``) are checked here too.
ALLOWED = {"math", "json", "micropython", "dynevse", "dynevse.compat", "dynevse.config.check"}


def imported_modules(path):
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.module or ""
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            yield "__import__"


def core_files():
    files = [os.path.join(CORE, f) for f in sorted(os.listdir(CORE)) if f.endswith(".py")]
    return files + [os.path.join(ROOT, "firmware", "dynevse", "compat.py"),
                    os.path.join(ROOT, "firmware", "dynevse", "config", "schema.py"),
                    os.path.join(ROOT, "firmware", "dynevse", "config", "site.py")]


def test_core_sources_import_only_pure_modules():
    assert len(core_files()) >= 4
    for path in core_files():
        for mod in imported_modules(path):
            top = mod.split(".")[0]
            assert top not in FORBIDDEN, "%s imports %s" % (path, mod)
            assert mod in ALLOWED or mod.startswith("dynevse.core") or mod in ("dynevse.config.schema", "dynevse.config.site"), \
                "%s imports %s" % (path, mod)


def test_checker_catches_a_forbidden_import(tmp_path):
    # The check above must be able to fail: a module importing time is caught.
    bad = tmp_path / "bad.py"
    bad.write_text("import math\nfrom time import ticks_ms\n")
    assert "time" in list(imported_modules(str(bad)))


def test_importing_the_core_loads_no_io_module():
    code = (
        "import sys; before = set(sys.modules); "
        "import dynevse.core.engine, dynevse.core.regulate, dynevse.config.check; "
        "new = set(sys.modules) - before; "
        "print(sorted(m for m in new if m.split('.')[0] in %r))" % (sorted(FORBIDDEN),)
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=os.path.join(ROOT, "firmware"),
                       capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]", r.stdout
