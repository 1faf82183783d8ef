"""Operator commands behind the console script: status, reconcile, setup, check, prune."""
