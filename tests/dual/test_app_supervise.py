"""A task that fails is logged and restarted; it never stops the others (both runtimes)."""
import asyncio

from dynevse import app, log


def test_failing_task_is_restarted_and_others_go_on():
    app._RESTART_MS = 10          # the board waits 2 s; the test need not
    # the two failures are expected: keep their tracebacks instead of printing them
    # (and their log lines: log.py's print is looked up in its module first)
    printed = []
    print_exception = log.exception
    log.exception = printed.append
    log.print = printed.append
    runs = []
    ticks = []

    async def flaky():
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError("boom %d" % len(runs))
        await asyncio.sleep(10)   # the third run stays up

    async def steady():
        for _ in range(30):
            ticks.append(1)
            await asyncio.sleep(0.005)

    async def main():
        t = asyncio.create_task(app.supervise("flaky", flaky))
        await steady()
        t.cancel()
        try:
            await t
        except asyncio.CancelledError:
            pass

    try:
        asyncio.run(main())
    finally:
        log.exception = print_exception
        del log.print
    # two failures, each restarted; the other task ran all its 30 ticks meanwhile
    assert runs == [0, 1, 2]
    assert len(ticks) == 30
    lines = log.recent()
    assert len([l for l in lines if "flaky failed: RuntimeError: boom" in l]) == 2
    # each failure was logged and its traceback printed, in that order
    assert [str(x).split(" error ")[-1] for x in printed] == [
        "flaky failed: RuntimeError: boom 1; restarting", "boom 1",
        "flaky failed: RuntimeError: boom 2; restarting", "boom 2"]
