"""Timing for the benchmarks: medians of calls, variants interleaved so a shared machine's drift hits all alike."""
import statistics
import time


def interleaved(variants, reps, pause=0.0):
    """{name: median seconds} over `reps` rounds, one call of every variant per round (after one warm-up).

    pause: seconds to sleep before each timed call, so that the previous variant's idle worker threads
    (which spin for a while before sleeping) do not take the cores of the next one.
    """
    times = {name: [] for name in variants}
    for name, fn in variants.items():
        fn()
    for _ in range(reps):
        for name, fn in variants.items():
            time.sleep(pause)
            tic = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - tic)
    return {name: statistics.median(t) for name, t in times.items()}


def timed(fn, reps):
    """Median seconds of `reps` calls of fn, after one untimed warm-up call."""
    return interleaved({"fn": fn}, reps)["fn"]
