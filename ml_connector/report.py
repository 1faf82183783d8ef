"""Rendering the demo's report for a person, and judging it."""

from __future__ import annotations

COLUMNS = ("read", "posted", "skipped_duplicates", "failed", "quarantined", "skipped")


def render_demo(report: dict) -> str:
    lines = [f"ml-connector demo: {report['documents']} documents, faults={report['faults']}, "
             f"{report['seconds']}s, Prefect API {report['prefect_api']}", ""]
    width = max([len("reconciliation"), *map(len, report["integrations"])]) + 2  # the longest name sets it
    header = f"{'integration':<{width}}" + "".join(f"{c:>20}" for c in COLUMNS)
    lines += [header, "-" * len(header)]
    for name, data in report["integrations"].items():
        lines.append(f"{name:<{width}}" + "".join(f"{data[c]:>20}" for c in COLUMNS))
    recon = ("expected", "present", "missing", "duplicated", "unexpected")
    lines += ["", f"{'reconciliation':<{width}}" + "".join(f"{c:>12}" for c in recon)]
    for name, data in report["integrations"].items():
        lines.append(f"{name:<{width}}" + "".join(f"{data['reconciliation'][c]:>12}" for c in recon))
    lines.append("")
    standard = {"expected", "present", "missing", "duplicated", "unexpected"}
    for name, data in report["integrations"].items():
        extra = {k: v for k, v in data["reconciliation"].items() if k not in standard}
        if extra:  # integration-specific states, e.g. X12 acknowledgments
            lines.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(extra.items())))
    for name, data in report["integrations"].items():
        runs = ", ".join(f"{r['state'].lower()}" for r in data["runs"])
        lines.append(f"{name}: runs [{runs}]; ledger {data['ledger']}")
    lines.append(f"faults injected: {report['faults_injected']}")
    lines.append("result: " + ("OK, nothing missing, nothing duplicated, nothing stale" if demo_ok(report)
                               else "PROBLEMS, see above"))
    return "\n".join(lines)


def demo_ok(report: dict) -> bool:
    """Nothing missing, duplicated or unexpected against what was seeded, and nothing stale (a
    target behind its document's latest revision). What ``ml-connector reconcile`` finds missing
    (``reconcile_missing``) is shown, not judged: it counts the documents the demo makes fail
    on purpose, which the seeded expectations leave out."""
    return all(
        d["reconciliation"]["missing"] == 0 and d["reconciliation"]["duplicated"] == 0
        and d["reconciliation"]["unexpected"] == 0 and not d["reconciliation"].get("stale")
        for d in report["integrations"].values()
    )
