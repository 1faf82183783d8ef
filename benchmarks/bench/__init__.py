"""The benchmark suite's parts; ``benchmarks/run.py`` is the entry point.

    emulator_host    the emulators served over HTTP in a process of their own, and its handle
    world            a fresh sandbox world per measurement; one measurement's record; task runs
    raw_pipelines    each measured integration's pipeline run without Prefect (raw_engine)
    raw_engine       the engine's run loop without Prefect, over a pipeline's own parts
    task_functions   Prefect tasks run as their functions while a raw run runs
    naive            the naive design: one Prefect task per document per step
    throughput       one timed run of one path (product, raw, naive) of one integration
    memory           peak RSS of the product flow in a subprocess per size
    webhook          webhook-to-posted latency through the deployment trigger, by phase
    suite            every measurement, repeated, paired and checked for equal work
    report           the figures beside issue 9's targets, as a dict and as text

Child processes (the emulator host, memory runs, the served deployment) start ``run.py`` with a
hidden flag, so each module stays importable without side effects.
"""

from pathlib import Path

RUN_PY = Path(__file__).resolve().parents[1] / "run.py"
TENANT = "demo"
QBO_TENANT = "demo-qbo"
