"""The `trl-ext` command."""

from __future__ import annotations

import argparse
import sys

from trl_ext.hub import HubError


def _build_dataset(args: argparse.Namespace) -> None:
    import hub_datasets
    from trl_ext import hub

    overrides = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects KNOB=VALUE, got {item!r}")
        overrides[key] = value
    built = hub_datasets.build(
        args.name,
        args.config,
        n=args.n,
        n_test=args.n_test,
        seed=args.seed,
        source=args.source,
        split=args.split,
        overrides=overrides,
    )
    config_name = args.config or ("lite" if args.name in hub_datasets.GENERATORS else "default")
    hub.push_dataset(
        built.dataset, args.push_to_hub, config_name, card_meta=built.card_meta, card_body=built.card_body
    )
    sizes = ", ".join(f"{split}: {len(ds)}" for split, ds in built.dataset.items())
    print(f"{args.name}/{config_name} ({sizes}) -> {hub.describe(args.push_to_hub)}")


def _demo(args: argparse.Namespace) -> None:
    from trl_ext.demo import run_demo

    run_demo(output=args.output, steps=args.steps, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trl-ext", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)

    build = verbs.add_parser(
        "build-dataset", help="generate or convert a benchmark dataset and push it with its card"
    )
    build.add_argument(
        "name", help="pbe, kolmogorov, puzzles (generators); code-contests, humaneval, p3 (converters)"
    )
    build.add_argument("--config", help="generator preset (e.g. lite, hard) or the converted config's name")
    build.add_argument("--n", type=int, help="train rows (generators)")
    build.add_argument("--n-test", type=int, help="test rows (generators)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--source", help="converters: a local JSON/JSONL/parquet file or a Hub dataset id")
    build.add_argument("--split", default="test", help="converters: the split name for a single-file source")
    build.add_argument("--set", action="append", metavar="KNOB=VALUE", help="override a generator knob")
    build.add_argument("--push-to-hub", required=True, metavar="TARGET", help="Hub repo id or local folder")
    build.set_defaults(func=_build_dataset)

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
