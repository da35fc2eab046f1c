"""Run a Python module with the process's wall clock shifted: a real process with a wrong clock.

    python -m tests.guarantees.clock_ahead SECONDS MODULE [ARGS...]

`time.time()` and `time.time_ns()` read SECONDS ahead before MODULE (e.g. `celery`) is first
imported, so everything it and its forked children do sees the wrong time. Redis's clock is
untouched: code that reads Redis TIME is unaffected, code that reads the local clock is not.
"""

from __future__ import annotations

import runpy
import sys
import time


def main() -> None:
    shift = float(sys.argv[1])
    module, *args = sys.argv[2:]
    real_time, real_time_ns = time.time, time.time_ns
    time.time = lambda: real_time() + shift
    time.time_ns = lambda: real_time_ns() + int(shift * 1_000_000_000)
    # The test reads this line to know the clock really is wrong in this process.
    print(f"clock ahead by {shift:.0f}s: time.time() reads {time.time():.3f}", flush=True)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
