"""The periodic jobs of serve: one worker at a time runs each, under a lease in Redis."""

from __future__ import annotations

import asyncio

from server.scheduler import Job, Scheduler


async def test_a_job_runs_in_one_worker_at_a_time_and_once_per_interval(runtime):
    runs = []
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_job(rt) -> None:
        runs.append(1)
        started.set()
        await release.wait()

    job = Job(f"probe-{id(runs)}", interval=60, run=slow_job)
    first, second = Scheduler(runtime, [job]), Scheduler(runtime, [job])
    running = asyncio.create_task(first.run_once(job))
    await asyncio.wait_for(started.wait(), 5)
    assert await second.run_once(job) is False  # the run holds the lease
    release.set()
    assert await running is True
    assert await second.run_once(job) is False  # and it is kept for this interval
    ttl = await runtime.redis.pttl(runtime.keys.key("lease", job.name))
    assert 50_000 < ttl <= 54_000
    assert runs == [1]
    await runtime.redis.delete(runtime.keys.key("lease", job.name))


async def test_stopping_ends_the_loops_even_when_a_job_swallows_its_cancellation(runtime):
    started = asyncio.Event()

    async def stubborn_job(rt) -> int:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:  # as a library's timeout may do
            await asyncio.sleep(0.05)
        return 0

    job = Job(f"stubborn-{id(started)}", interval=3600, run=stubborn_job)
    scheduler = Scheduler(runtime, [job])
    scheduler.start()
    await asyncio.wait_for(started.wait(), 15)  # the loop starts within 10 s
    # asyncio.wait, not wait_for: a timeout must not cancel stop() (which would end it).
    stopping = asyncio.create_task(scheduler.stop())
    done, _ = await asyncio.wait([stopping], timeout=5)
    await runtime.redis.delete(runtime.keys.key("lease", job.name))
    assert done, "stop() still waits for a loop that went back to sleep"
