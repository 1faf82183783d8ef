"""``ml-connector demo``: the whole product against the embedded sandbox.

``run.py`` prepares the environment and a Prefect server, runs every world's flows until drained
and renders the report; ``world.py`` is one tenant's world (emulators served over HTTP, seeded by
the integrations' demo parts, reconciled at the end); ``parts/`` holds one demo part per
integration.
"""

from .run import demo_passed, prefect_api, prepare_environment, render, run_demo

__all__ = ["demo_passed", "prefect_api", "prepare_environment", "render", "run_demo"]
