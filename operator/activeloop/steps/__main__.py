"""Worker entry point: ``python -m activeloop.steps STEP --store URI --round N``.

Prints the step's JSON record on the last line of stdout (the operator reads it from the Job's
logs as well as from the store).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from activeloop.api.names import STEP_NAMES, Step
from activeloop.errors import ActiveLoopError
from activeloop.steps import get_step
from activeloop.store import store_from_uri


def main(argv: list[str] | None = None) -> int:
    """Run one step; exit code 0 on success, 2 on bad input, 1 on any other failure."""
    parser = argparse.ArgumentParser(prog="python -m activeloop.steps", description=__doc__)
    parser.add_argument("step", choices=sorted(STEP_NAMES))
    parser.add_argument("--store", required=True, help="file:///dir or s3://bucket/prefix")
    parser.add_argument("--round", type=int, required=True, dest="round_number")
    parser.add_argument("--shard", type=int, help="score: the shard (default: JOB_COMPLETION_INDEX)")
    parser.add_argument("--student", help="distil: name of the StudentModel")
    parser.add_argument("--architecture", choices=["cnn", "mlp"], default="cnn", help="distil")
    parser.add_argument("--channels", type=int, default=32, help="distil: student width")
    parser.add_argument("--ensemble", type=int, default=1, help="distil: students in the ensemble")
    parser.add_argument("--mean-only", action="store_true", help="distil: do not learn the teacher's variance")
    args = parser.parse_args(argv)
    options: dict = {}
    if args.step == Step.SCORE:
        options = {"shard": args.shard}
    if args.step == Step.DISTIL:
        options = {"student": args.student or "student", "architecture": args.architecture,
                   "channels": args.channels, "ensemble": args.ensemble,
                   "match_variance": not args.mean_only}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        record = get_step(args.step)(store_from_uri(args.store), args.round_number, **options)
    except (ActiveLoopError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(record, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
