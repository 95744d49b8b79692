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


def _parse_ks(text: str) -> list[int]:
    try:
        return sorted({int(k) for k in text.split(",") if k.strip()})
    except ValueError:
        raise ValueError(f"--k expects comma-separated integers such as 1,4,16, got {text!r}") from None


def _evaluate(args: argparse.Namespace) -> None:
    from trl_ext.eval.harness import EvalRequest, GenerationSettings, evaluate, format_table, write_results

    request = EvalRequest(
        model=args.model,
        dataset=args.dataset,
        dataset_config=args.config,
        split=args.split,
        samples=args.samples,
        ks=_parse_ks(args.k),
        revision=args.revision,
        precision=args.precision,
        limit=args.limit,
        turns=args.turns,
        generation=GenerationSettings(
            args.max_new_tokens, args.temperature, args.top_p, args.batch_size, args.seed
        ),
    )
    results = evaluate(request)
    print(format_table(results))
    if args.output:
        write_results(results, args.output)
        print(f"results written to {args.output}")


EMBEDDED_REQUESTS = "./hub/leaderboard/requests"
EMBEDDED_RESULTS = "./hub/leaderboard/results"


def embedded_benchmarks() -> list:
    from trl_ext.leaderboard.settings import Benchmark

    return [
        Benchmark(
            dataset="./hub/datasets/pbe",
            config="demo",
            split="test",
            samples=8,
            ks=[1, 2, 4, 8],
            max_new_tokens=16,
        )
    ]


def _leaderboard_settings(requests: str, results: str | None):
    """The settings stored with the requests; first use creates them (embedded default benchmarks)."""
    from trl_ext import hub
    from trl_ext.leaderboard import settings as settings_io

    try:
        return settings_io.load(requests)
    except hub.HubError:
        settings = settings_io.Settings(
            requests=requests,
            results=results or EMBEDDED_RESULTS,
            benchmarks=embedded_benchmarks(),
            local_models="./hub/models",
        )
        settings_io.save(settings)
        hub.create(settings.results, repo_type="dataset")
        return settings


def _leaderboard(args: argparse.Namespace) -> None:
    if args.deploy:
        from trl_ext.leaderboard.deploy import deploy

        settings = deploy(
            args.deploy,
            embedded_benchmarks()
            if args.requests == EMBEDDED_REQUESTS
            else _leaderboard_settings(args.requests, args.results).benchmarks,
        )
        print(f"deployed Space {args.deploy} (requests {settings.requests}, results {settings.results})")
        return
    from trl_ext.leaderboard.app import launch

    settings = _leaderboard_settings(args.requests, args.results)
    print(
        f"leaderboard on http://{args.host}:{args.port} (requests {settings.requests}, results {settings.results})",
        flush=True,
    )
    launch(settings, port=args.port, host=args.host)


def _submit(args: argparse.Namespace) -> None:
    from trl_ext import hub

    benchmarks = [b for b in (args.benchmarks or "").split(",") if b]  # none: all of the leaderboard's
    fields = (args.model, args.revision, args.precision, args.model_type, benchmarks, args.submitter)
    if hub.is_local(args.leaderboard):  # a local requests target: the app's own handler, directly
        from trl_ext.leaderboard import settings as settings_io
        from trl_ext.leaderboard.app import submit_message

        message = submit_message(settings_io.load(args.leaderboard), *fields)
    else:  # a Space id or URL: through the app's API
        from gradio_client import Client

        message = Client(args.leaderboard, verbose=False).predict(*fields, api_name="/submit")
    print(message)
    if not message.startswith("✅"):
        raise ValueError(message.removeprefix("❌ Rejected: "))


def _demo(args: argparse.Namespace) -> None:
    from trl_ext.demo import DemoSettings, run_demo

    run_demo(
        DemoSettings(
            minutes=args.minutes, trainer=args.trainer, k=args.k, seed=args.seed, output=args.output,
            hub_root=args.hub, n_train=args.n_train, n_test=args.n_test,
        )
    )  # fmt: skip


def _train(args: argparse.Namespace) -> None:
    from trl_ext.train import main as train_main

    train_main(args.name, args.args)


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

    ev = verbs.add_parser("evaluate", help="sample N completions per problem and report pass@k, maj@k, n@k")
    ev.add_argument("--model", required=True, help="Hub model id or local folder")
    ev.add_argument("--dataset", required=True, help="Hub dataset id or local folder of a trl-ext benchmark")
    ev.add_argument("--config", help="dataset config")
    ev.add_argument("--split", default="test")
    ev.add_argument("--samples", type=int, default=8, help="completions per problem (N)")
    ev.add_argument("--k", default="1", help="comma-separated k values, each <= samples")
    ev.add_argument("--revision")
    ev.add_argument("--precision", default="float32", help="float32, bfloat16, float16 or 4bit")
    ev.add_argument("--limit", type=int, help="evaluate only the first LIMIT problems")
    ev.add_argument(
        "--turns", type=int, default=1, help="T > 1: episodes of T turns with public-test feedback"
    )
    ev.add_argument("--max-new-tokens", type=int, default=256)
    ev.add_argument("--temperature", type=float, default=1.0)
    ev.add_argument("--top-p", type=float, default=1.0)
    ev.add_argument("--batch-size", type=int, default=8, help="problems per generation batch")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--output", help="where to write the results JSON")
    ev.set_defaults(func=_evaluate)

    board = verbs.add_parser("leaderboard", help="run the leaderboard app, or deploy it as a Space")
    board.add_argument(
        "--requests", default=EMBEDDED_REQUESTS, help="requests dataset (target); holds leaderboard.json"
    )
    board.add_argument("--results", default=None, help="results dataset (target), when creating the settings")
    board.add_argument("--port", type=int, default=7860)
    board.add_argument("--host", default="127.0.0.1")
    board.add_argument(
        "--deploy", metavar="ORG/NAME", help="create/update the Space ORG/NAME and its datasets"
    )
    board.set_defaults(func=_leaderboard)

    sub = verbs.add_parser(
        "submit", help="submit a model to a leaderboard (Space id, URL, or local requests folder)"
    )
    sub.add_argument("--leaderboard", required=True, help="Space id, http(s) URL, or local requests target")
    sub.add_argument(
        "--model", required=True, help="model id org/name (local/NAME for a local leaderboard's models)"
    )
    sub.add_argument("--revision", default="main")
    sub.add_argument("--precision", default="float32")
    sub.add_argument("--model-type", default="fine-tuned")
    sub.add_argument("--benchmarks", help="comma-separated benchmark names (default: all)")
    sub.add_argument("--submitter", default="anonymous")
    sub.set_defaults(func=_submit)

    train = verbs.add_parser(
        "train", help="train with a trl-ext trainer from a recipe (trl_ext.train.TRAINERS)", add_help=False
    )
    train.add_argument("name", help="trainer name, e.g. passk (the recipes/<name>/ folder)")
    train.add_argument(
        "args", nargs=argparse.REMAINDER, help="--config RECIPE.yaml and --flag value overrides"
    )
    train.set_defaults(func=_train)

    demo = verbs.add_parser("demo", help="run the end-to-end flow on the embedded default (CPU, no network)")
    demo.add_argument("--minutes", type=float, default=12.0, help="overall time budget (SFT and RL share it)")
    demo.add_argument(
        "--trainer", default="passk", help="passk (PassAtKTrainer) or grpo (stock GRPOTrainer baseline)"
    )
    demo.add_argument("--k", type=int, default=4, help="k of the pass@k objective")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--output", default="outputs/demo", help="plots, results JSON and training runs")
    demo.add_argument("--hub", default="./hub", help="local folder standing in for the Hub")
    demo.add_argument("--n-train", type=int, default=2000, help="training problems")
    demo.add_argument("--n-test", type=int, default=300, help="held-out problems")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (HubError, ValueError, RuntimeError) as err:
        print(f"trl-ext {args.verb}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
