#!/usr/bin/env python3
"""The Python asyncio peer of @hybrid/bench: the same workloads, written the way the
course (seeds/) teaches them, standard library only.

    python3 asyncio_bench.py fanout --n 10000 [--wait-ms 1000] [--limit 1000]
        N concurrent timer waits through asyncio.gather (with --limit: each task first
        takes an asyncio.Semaphore(limit), the bounded variant). Prints one JSON object:
        {"variant", "n", "wallMs", "rssPerTask"}.

    python3 asyncio_bench.py pipeline --items 200 --concurrency 8 --fetch-ms 26
            --store-ms 6 --cpu-ms 4 --workers 2 [--reps 3]
        fetch (a wait) -> CPU (count primes in an executor) -> store (a wait), two ways:
        gather-then-process (asyncio.gather each phase) and a pipeline of stages joined by
        bounded asyncio.Queues. fetch and store share one asyncio.Semaphore(concurrency).
        The CPU step runs on InterpreterPoolExecutor when Python has it (3.14+), else on
        ProcessPoolExecutor; its size is calibrated here to take about --cpu-ms on one
        thread. Prints one JSON object with every repetition's wall time and the
        critical-path bound max(sum I/O / concurrency, sum CPU / workers).

Run by packages/bench/src/scenarios/io-fanout.ts and pipeline.ts; usable on its own.
"""

import argparse
import asyncio
import concurrent.futures
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time


# --- memory -------------------------------------------------------------------------------

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident set size now (Linux /proc), else the peak the OS reports."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


# --- fanout -------------------------------------------------------------------------------

async def fanout(n: int, wait_s: float, limit: int | None) -> dict:
    gc.collect()
    before = rss_bytes()
    peak = before
    loop = asyncio.get_running_loop()
    total_s = wait_s if limit is None else wait_s * -(-n // limit)

    def probe() -> None:  # every task is pending half-way through the wait
        nonlocal peak
        peak = max(peak, rss_bytes())

    handle = loop.call_later(total_s / 2, probe)
    start = time.perf_counter()
    if limit is None:
        await asyncio.gather(*(asyncio.sleep(wait_s) for _ in range(n)))
    else:
        semaphore = asyncio.Semaphore(limit)

        async def one() -> None:
            async with semaphore:
                await asyncio.sleep(wait_s)

        await asyncio.gather(*(one() for _ in range(n)))
    wall_ms = (time.perf_counter() - start) * 1000
    handle.cancel()
    return {
        "variant": "python" if limit is None else "python-bounded",
        "n": n,
        "wallMs": wall_ms,
        "rssPerTask": (peak - before) / n,
    }


# --- pipeline -----------------------------------------------------------------------------

def count_primes(n: int) -> int:
    """Counts the primes below n by trial division: the same kernel as the Node side."""
    count = 0
    for i in range(2, n):
        d = 2
        prime = True
        while d * d <= i:
            if i % d == 0:
                prime = False
                break
            d += 1
        if prime:
            count += 1
    return count


def calibrate(target_ms: float) -> int:
    n = 2_000
    while True:
        start = time.perf_counter()
        count_primes(n)
        ms = (time.perf_counter() - start) * 1000
        if ms >= 20:
            return max(100, round(n * (target_ms / ms) ** (1 / 1.5)))
        n *= 2


def make_executor(workers: int) -> tuple[concurrent.futures.Executor, str]:
    pool = getattr(concurrent.futures, "InterpreterPoolExecutor", None)
    if pool is not None:
        return pool(max_workers=workers), "InterpreterPoolExecutor"
    return concurrent.futures.ProcessPoolExecutor(max_workers=workers), "ProcessPoolExecutor"


async def gather_then_process(items, fetch, compute, store) -> None:
    fetched = await asyncio.gather(*(fetch(i) for i in items))
    computed = await asyncio.gather(*(compute(x) for x in fetched))
    await asyncio.gather(*(store(x) for x in computed))


async def pipelined(items, fetch, compute, store, concurrency: int, cpu_workers: int) -> None:
    fetched: asyncio.Queue = asyncio.Queue(concurrency)
    computed: asyncio.Queue = asyncio.Queue(concurrency)
    todo = iter(items)
    done = object()

    async def fetcher() -> None:
        for i in todo:  # the workers share one iterator: each item is taken once
            await fetched.put(await fetch(i))

    async def cpu_worker() -> None:
        while (item := await fetched.get()) is not done:
            await computed.put(await compute(item))

    async def storer() -> None:
        while (item := await computed.get()) is not done:
            await store(item)

    async with asyncio.TaskGroup() as outer:
        storers = [outer.create_task(storer()) for _ in range(concurrency)]
        async with asyncio.TaskGroup() as middle:
            cpus = [middle.create_task(cpu_worker()) for _ in range(cpu_workers)]
            async with asyncio.TaskGroup() as inner:
                for _ in range(concurrency):
                    inner.create_task(fetcher())
            for _ in cpus:
                await fetched.put(done)
        for _ in storers:
            await computed.put(done)


async def pipeline(args) -> dict:
    loop = asyncio.get_running_loop()
    n = calibrate(args.cpu_ms)
    items = list(range(args.items))
    io = asyncio.Semaphore(args.concurrency)
    executor, executor_name = make_executor(args.workers)

    async def fetch(i):
        async with io:
            await asyncio.sleep(args.fetch_ms / 1000)
        return i

    async def store(x):
        async with io:
            await asyncio.sleep(args.store_ms / 1000)
        return x

    async def compute(_):
        return await loop.run_in_executor(executor, count_primes, n)

    def cpu_alone_ms() -> float:
        start = time.perf_counter()
        for _ in items:
            count_primes(n)
        return (time.perf_counter() - start) * 1000

    async def timed(coroutine) -> float:
        start = time.perf_counter()
        await coroutine
        return (time.perf_counter() - start) * 1000

    with executor:
        # warm the pool: workers started, the kernel imported in each
        await asyncio.gather(*(compute(i) for i in range(args.workers * 4)))
        samples = {"cpu": [], "pool": [], "gather": [], "pipeline": []}
        for _ in range(args.reps):
            samples["cpu"].append(cpu_alone_ms())
            samples["pool"].append(await timed(asyncio.gather(*(compute(i) for i in items))))
            samples["gather"].append(await timed(gather_then_process(items, fetch, compute, store)))
            samples["pipeline"].append(
                await timed(pipelined(items, fetch, compute, store, args.concurrency, args.workers * 2))
            )
    cpu_total = statistics.median(samples["cpu"])
    io_total = args.items * (args.fetch_ms + args.store_ms)
    return {
        "python": platform.python_version(),
        "executor": executor_name,
        "workers": args.workers,
        "n": n,
        "cpuMsPerItem": cpu_total / args.items,
        "cpuTotalMs": cpu_total,
        "poolMs": statistics.median(samples["pool"]),
        "boundMs": max(io_total / args.concurrency, cpu_total / args.workers),
        "cpuMs": samples["cpu"],
        "poolSamplesMs": samples["pool"],
        "gatherMs": samples["gather"],
        "pipelineMs": samples["pipeline"],
    }


# --- main ---------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    f = modes.add_parser("fanout")
    f.add_argument("--n", type=int, required=True)
    f.add_argument("--wait-ms", type=float, default=1000)
    f.add_argument("--limit", type=int)
    p = modes.add_parser("pipeline")
    p.add_argument("--items", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--fetch-ms", type=float, required=True)
    p.add_argument("--store-ms", type=float, required=True)
    p.add_argument("--cpu-ms", type=float, required=True)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    if args.mode == "fanout":
        result = asyncio.run(fanout(args.n, args.wait_ms / 1000, args.limit))
    else:
        result = asyncio.run(pipeline(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
