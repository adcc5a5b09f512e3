"""Known-vulnerability audit of the installed dependencies (pip-audit), for ``make lint``.

Fails when a dependency has a known vulnerability. When the vulnerability service cannot
be reached (an offline machine, a private package mirror without PyPI's JSON API), it says
so plainly and does not fail: an audit that could not run is not a passed audit, and the
note says which it was.
"""
from __future__ import annotations

import json
import subprocess
import sys


def main() -> int:
    run = subprocess.run([sys.executable, "-m", "pip_audit", "--local", "--format", "json",
                          "--progress-spinner", "off"],
                         capture_output=True, text=True, timeout=600, check=False)
    try:
        report = json.loads(run.stdout)
    except ValueError:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"note: dependency audit NOT RUN - the vulnerability service could not be "
              f"reached ({last})", file=sys.stderr)
        return 0
    deps = report.get("dependencies", [])
    audited = [d for d in deps if "skip_reason" not in d]
    vulnerable = [d for d in audited if d.get("vulns")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            print(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixed})")
    if vulnerable:
        return 1
    if not audited:
        print(f"note: dependency audit NOT RUN - none of the {len(deps)} dependencies could "
              "be looked up in the vulnerability service (no access to PyPI's JSON API from "
              "here)", file=sys.stderr)
        return 0
    print(f"dependency audit: {len(audited)} dependencies, no known vulnerabilities"
          + (f" ({len(deps) - len(audited)} could not be looked up)"
             if len(deps) > len(audited) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
