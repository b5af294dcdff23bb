"""``import mle_gym``: wall time and peak memory in fresh interpreters, and what it pulls in.

    python bench/import_time.py [--runs 10] [--quick]

Each run is a new interpreter that times ``import mle_gym`` (which registers every task) and
reports its peak RSS; a bare interpreter is the baseline. Fails (exit 1) if the import loads
any of the heavy or optional modules that must stay out of it: torch, trl, transformers,
docker, ray.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from tqdm.auto import tqdm

HEAVY = ("torch", "trl", "transformers", "docker", "ray", "datasets", "sklearn")
MUST_NOT = ("torch", "trl", "transformers", "docker", "ray")

PROBE = r"""
import json, resource, sys, time
started = time.perf_counter()
if sys.argv[1] == "mle_gym":
    import mle_gym
took = time.perf_counter() - started
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2].split(",")))
print(json.dumps({"seconds": took, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "modules": len(sys.modules), "heavy": heavy}))
"""


def probe(what: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, what, ",".join(HEAVY)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 runs: a smoke run")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    results: dict[str, list[dict]] = {"bare interpreter": [], "import mle_gym": []}
    for _ in tqdm(range(runs), desc="fresh interpreters"):
        results["bare interpreter"].append(probe("nothing"))
        results["import mle_gym"].append(probe("mle_gym"))

    print(f"\nruns: {runs}\n")
    print(f"{'what':<18} {'import (median)':>16} {'min':>8} {'peak RSS':>10} {'modules':>8}")
    for name, rows in results.items():
        secs = [r["seconds"] for r in rows]
        print(f"{name:<18} {statistics.median(secs) * 1000:>13.0f} ms {min(secs) * 1000:>5.0f} ms "
              f"{statistics.median(r['rss_mib'] for r in rows):>6.0f} MiB {rows[0]['modules']:>8}")
    loaded = results["import mle_gym"][0]["heavy"]
    bad = [m for m in loaded if m in MUST_NOT]
    print(f"\nheavy modules loaded by `import mle_gym`: {', '.join(loaded) or 'none'}")
    if bad:
        print(f"FAIL: `import mle_gym` must not import {', '.join(bad)}")
        return 1
    print(f"OK: none of {', '.join(MUST_NOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
