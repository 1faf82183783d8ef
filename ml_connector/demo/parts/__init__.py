"""One demo part per integration (or pair of directions); see world.DemoPart."""

from __future__ import annotations


def all_parts() -> list:
    """Every integration the demo runs, in order."""
    from .intacct_sterling import IntacctSterlingPart
    from .sps_intacct import SpsIntacctPart
    from .sps_qbo import SpsQboPart

    return [SpsIntacctPart(), SpsQboPart(), IntacctSterlingPart()]
