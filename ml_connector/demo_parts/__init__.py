"""One demo part per integration (or pair of directions); see demo_world.DemoPart."""

from __future__ import annotations


def all_parts() -> list:
    """Every integration the demo runs, in order."""
    from .sps_intacct import SpsIntacctPart

    return [SpsIntacctPart()]
