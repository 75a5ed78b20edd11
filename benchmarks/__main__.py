"""``python -m benchmarks run --suite quick|full`` and ``python -m benchmarks report FILE.json``.

The quick suite runs on a CPU in at most about 15 minutes (2 cores); the full suite is
meant for a GPU (Brax hopper / halfcheetah / ant, up to 1024 seeds). Both write
``benchmarks/results/<date>-<device>[-quick].json`` and a markdown report with plots.
"""

from __future__ import annotations

import jaxil  # first: sets jaxil's XLA CPU flags before the backend starts

import argparse
import dataclasses
import os
import sys


def main(argv=None) -> int:
    from benchmarks import suite as su

    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a benchmark suite and write its JSON + markdown report")
    r.add_argument("--suite", choices=sorted(su.SUITES), default="quick")
    r.add_argument("--only", default="", help=f"comma-separated sections, from {','.join(su.SECTIONS)}")
    r.add_argument("--skip", default="", help="comma-separated sections to leave out")
    r.add_argument("--brax-envs", default=None, help="override the Brax envs (full suite: hopper,halfcheetah,ant)")
    r.add_argument("--brax-seeds", default=None, help="override the Brax seed counts (full suite: 1,16,256)")
    r.add_argument("--brax-budget-scale", type=float, default=None,
                   help="multiply the Brax training budgets (e.g. 0.01 for a smoke run)")
    r.add_argument("--rerun-failed", metavar="JSON", default=None,
                   help="a suite JSON: keep its sections that succeeded, run the failed ones again, rewrite it")
    r.add_argument("--out", default=su.RESULTS)
    rep = sub.add_parser("report", help="rewrite the markdown report and plots of a suite JSON")
    rep.add_argument("json")
    args = p.parse_args(argv)
    # Every CPU core a device, as the jaxil command does: runs split over them (loop.run).
    jaxil.set_cpu_device_count()
    if args.command == "report":
        from benchmarks import report

        report.main([args.json])
        return 0
    suite = su.SUITES[args.suite]
    names = [n for n in (args.only.split(",") if args.only else su.SECTIONS) if n]
    skip = {n for n in args.skip.split(",") if n}
    unknown = sorted((set(names) | skip) - set(su.SECTIONS))
    if unknown:
        p.error(f"unknown sections {unknown}; choose from {', '.join(su.SECTIONS)}")
    changes = {"sections": tuple(n for n in names if n not in skip)} if args.only or skip else {}
    if args.brax_envs is not None:
        changes["brax_envs"] = tuple(e for e in args.brax_envs.split(",") if e)
    if args.brax_seeds is not None:
        changes["brax_seeds"] = tuple(int(x) for x in args.brax_seeds.split(",") if x)
    if args.brax_budget_scale is not None:
        changes["brax_budget_scale"] = args.brax_budget_scale
    suite = dataclasses.replace(suite, **changes)
    previous = None
    if args.rerun_failed:
        import json

        with open(args.rerun_failed) as f:
            previous = json.load(f)
        if previous.get("suite") != suite.name or previous.get("device") != su.device_name():
            p.error(f"{args.rerun_failed} is a {previous.get('suite')!r} suite run on {previous.get('device')}, "
                    f"not {suite.name!r} on this device")
    result, md = su.run(suite, args.out, previous=previous)
    print()
    for g in result["goals"]:
        measured = "-" if g["measured"] is None else f"{g['measured']:g}"
        print(f"{'MET    ' if g['met'] else 'NOT MET'}  {g['name']}: {measured} (target {g['target']})")
    rel = os.path.relpath(md, os.path.dirname(su.HERE))  # from the repository root
    print(f"\nwrote {os.path.splitext(rel)[0]}.json and {rel} ({result['wall_s'] / 60:.1f} min)")
    print(f"latest report (link it from README's Benchmarks section): [{os.path.basename(md)}]({rel})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
