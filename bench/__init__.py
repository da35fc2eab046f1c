"""Benchmarks of a whole Newswire stack on this machine; they print figures, never assert.

    .venv/bin/python -m bench                        # all five, then a summary table
    .venv/bin/python -m bench.serve                  # the feeds service beside nginx (wrk)
    .venv/bin/python -m bench.feed_build             # a feed's build against bare lxml RSS
    .venv/bin/python -m bench.ingest_throughput      # single-PUT ingest (wrk)
    .venv/bin/python -m bench.batch_ingest           # POST /v1/articles:batch
    .venv/bin/python -m bench.publish_latency        # PUT sent to visible in its feeds

The stack benchmarks start their own throwaway stack (devstack.stack.Stack) under a
temporary directory. wrk and nginx come from `make bench-tools`.
"""

try:
    import orjson  # noqa: F401
    import redis  # noqa: F401
    import requests  # noqa: F401
except ImportError as exc:
    raise SystemExit(
        f"the benchmarks need the project's virtualenv ({exc}): run `make venv`, then "
        "`.venv/bin/python -m bench` from the repository root"
    ) from None
