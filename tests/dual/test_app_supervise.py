"""A task that fails is logged and restarted; it never stops the others (both runtimes)."""
import asyncio

from dynevse import app, log


def test_failing_task_is_restarted_and_others_go_on():
    app._RESTART_MS = 10          # the board waits 2 s; the test need not
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

    asyncio.run(main())
    # two failures, each restarted; the other task ran all its 30 ticks meanwhile
    assert runs == [0, 1, 2]
    assert len(ticks) == 30
    lines = log.recent()
    assert len([l for l in lines if "flaky failed: RuntimeError: boom" in l]) == 2
