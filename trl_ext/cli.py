"""The `trl-ext` command."""

from __future__ import annotations

import argparse
import sys

from trl_ext.hub import HubError


def _demo(args: argparse.Namespace) -> None:
    from trl_ext.demo import run_demo

    run_demo(output=args.output, steps=args.steps, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trl-ext", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)

    demo = verbs.add_parser("demo", help="run the end-to-end flow on the embedded default (CPU, no network)")
    demo.add_argument("--output", default="./hub", help="local folder standing in for the Hub")
    demo.add_argument("--steps", type=int, default=40, help="RL steps")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (HubError, ValueError) as err:
        print(f"trl-ext {args.verb}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
