"""The soak's exact-point tests use the flow tests' sandbox world (both emulators in-process)
and their ``mount`` fixture (an emulator mounted for one test)."""

from tests.flows.conftest import mount, world, world_factory  # noqa: F401  (fixtures, re-exported)
