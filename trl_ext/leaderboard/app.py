"""The leaderboard's Gradio 6 app: leaderboard, submit, queue, plots and about tabs.

    trl-ext leaderboard --requests ./hub/leaderboard/requests --port 7860

Data comes fresh from the requests and results datasets on every load and refresh. On a Space (SYSTEM=spaces,
SPACE_ID set) a submission needs a Hub account: signed in with the page's button, or the user's own token sent by
`trl-ext submit` (gradio_client's `oauth_token`, checked with the Hub's `whoami`, used for that one call and never
stored or logged). The submitter is that account, and the daily limit counts per account. Every event has a named
API endpoint (`/leaderboard`, `/submit`, `/queue`, `/plot`).

Only results computed under the leaderboard's current benchmark settings are ranked; results of earlier
settings are listed below them, unranked, marked with the settings that differ.
"""

# No `from __future__ import annotations`: gradio reads the OAuth parameters' annotations of the handlers
# (gr.OAuthProfile, gr.OAuthToken) as real objects; as strings naming a local `gr` they would not resolve.
import math
import os

import pandas as pd

from trl_ext import hub
from trl_ext.leaderboard.settings import DEFAULT_PRECISION, MODEL_TYPES, PRECISIONS, Settings
from trl_ext.leaderboard.submissions import SubmissionError, list_requests, submit, submitted_message

INFO_COLUMNS = ["Rank", "Model", "Revision", "Precision", "Type", "Params (M)", "Average pass@1"]
SIZE_BUCKETS = {
    "< 1M": (0, 1),
    "1M-1B": (1, 1000),
    "1B-10B": (1000, 10_000),
    "> 10B": (10_000, math.inf),
    "unknown": None,
}


def load_results(settings: Settings) -> list[dict]:
    """The latest results file per (model, revision, precision, request)."""
    files = [p for p in hub.list_files(settings.results, repo_type="dataset") if p.endswith(".json")]
    return [hub.read_json(settings.results, p) for p in sorted(files)]


def _model_link(model: str) -> str:
    if model.startswith("local/"):
        return model
    return f"[{model}](https://huggingface.co/{model})"


SE = " SE"  # suffix of the standard-error columns in leaderboard_frame
SETTINGS_COLUMN = "Settings"  # "" for the current benchmark settings, else what differs (unranked rows)
RANKED_FIELDS = ("split", "samples", "ks", "max_new_tokens", "limit", "temperature")


def settings_difference(settings: Settings, benchmark: str, used: dict | None) -> str:
    """'' when a result of `benchmark` was computed under the leaderboard's current settings, else a short
    description of what differs ('settings not recorded' for results that do not say)."""
    try:
        current = settings.benchmark(benchmark)
    except ValueError:
        return "benchmark no longer on the leaderboard"
    if not used:
        return "settings not recorded"
    changed = [f"{k}={used.get(k)}" for k in RANKED_FIELDS if used.get(k) != getattr(current, k)]
    return ", ".join(changed)


def leaderboard_frame(settings: Settings, results: list[dict] | None = None) -> pd.DataFrame:
    """One row per (model, revision, precision, settings): info columns, then per benchmark metric its score and
    its standard error (`... SE`), in percent. Rows of the current settings are ranked by their average pass@1;
    rows computed under other settings follow, unranked, with `Settings` saying what differs."""
    rows: dict[tuple, dict] = {}
    for item in results if results is not None else load_results(settings):
        config = item["config"]
        for benchmark, metrics in item["results"].items():
            used = (item.get("benchmarks") or {}).get(benchmark)
            differs = settings_difference(settings, benchmark, used)
            key = (config["model"], config.get("revision"), config.get("precision"), differs)
            row = rows.setdefault(
                key,
                {
                    "Rank": None,
                    "Model": _model_link(config["model"]),
                    "Revision": config.get("revision") or "main",
                    "Precision": config.get("precision"),
                    "Type": config.get("model_type", "other"),
                    "Params (M)": round(config["params"] / 1e6, 3) if config.get("params") else None,
                    "Average pass@1": None,
                    SETTINGS_COLUMN: differs,
                },
            )
            errors = (item.get("stderr") or {}).get(benchmark, {})
            for metric, value in metrics.items():
                row[f"{benchmark} {metric}"] = round(100 * value, 1)
                if errors.get(metric) is not None:
                    row[f"{benchmark} {metric}{SE}"] = round(100 * errors[metric], 1)
    frame = pd.DataFrame(list(rows.values()), columns=None)
    if frame.empty:
        return pd.DataFrame(columns=[*INFO_COLUMNS, SETTINGS_COLUMN])
    metric_columns = sorted(
        (c for c in frame.columns if c not in INFO_COLUMNS and c != SETTINGS_COLUMN and not c.endswith(SE)),
        key=_metric_order,
    )
    pass1 = [c for c in metric_columns if c.endswith(" pass@1")]
    # The mean pass@1 over the leaderboard's benchmarks (a model missing one has no average): the ranking. Its
    # standard error treats the benchmarks as independent samples of problems: sqrt(sum SE_i^2) / m.
    frame["Average pass@1"] = frame[pass1].mean(axis=1, skipna=False).round(1) if pass1 else float("nan")
    pass1_se = [f"{c}{SE}" for c in pass1 if f"{c}{SE}" in frame.columns]
    if pass1 and len(pass1_se) == len(pass1):
        frame[f"Average pass@1{SE}"] = (
            (frame[pass1_se] ** 2).sum(axis=1, min_count=len(pass1)) ** 0.5 / len(pass1)
        ).round(1)
    current = frame[SETTINGS_COLUMN] == ""
    frame.loc[~current, "Average pass@1"] = float("nan")  # never ranked against the current settings
    frame["_current"] = current
    frame = frame.sort_values(
        ["_current", "Average pass@1"], ascending=[False, False], na_position="last", kind="stable"
    )
    frame["Rank"] = frame["Average pass@1"].rank(ascending=False, method="min").astype("Int64")
    se_columns = [c for c in frame.columns if c.endswith(SE)]
    ordered = INFO_COLUMNS + metric_columns + [SETTINGS_COLUMN] + se_columns
    return frame[ordered].reset_index(drop=True)


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The table as shown: each score as `mean ± standard error` (percent), the unit in the header; the
    Settings column only when some row was computed under other settings."""
    shown = frame[[c for c in frame.columns if not c.endswith(SE)]].copy()
    for column in shown.columns:
        if _is_score(column):
            se = frame.get(f"{column}{SE}")
            shown[column] = [
                _with_error(value, None if se is None else se.iloc[i])
                for i, value in enumerate(frame[column])
            ]
    if SETTINGS_COLUMN in shown.columns and not shown[SETTINGS_COLUMN].astype(bool).any():
        shown = shown.drop(columns=[SETTINGS_COLUMN])
    return shown.rename(columns={c: f"{c} (% ± SE)" for c in shown.columns if _is_score(c)})


def _is_score(column: str) -> bool:
    """A metric column (percent): pass@k / maj@k / n@k, their average, compression rate, patch similarity."""
    return (
        column == "Average pass@1"
        or "@" in column
        or column.endswith((" compression_rate", " patch_similarity"))
    )


def _with_error(value, error) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if error is None or (isinstance(error, float) and math.isnan(error)):
        return f"{value:.1f}"
    return f"{value:.1f} ± {error:.1f}"


def last_updated(results: list[dict]) -> str:
    dates = [r["config"].get("date") for r in results if r["config"].get("date")]
    if not dates:
        return "No results yet."
    count = len(results)
    return f"Last updated: {max(dates)} (UTC) · {count} evaluation{'' if count == 1 else 's'}"


def _metric_order(column: str) -> tuple:
    """'bench pass@4' → (bench, 0, 4): per benchmark, pass@k, then maj@k, then n@k, by k."""
    benchmark, _, metric = column.rpartition(" ")
    kind, _, k = metric.partition("@")
    return benchmark, {"pass": 0, "maj": 1}.get(kind, 2), int(k) if k.isdigit() else 0


def filter_frame(
    frame: pd.DataFrame, types: list[str], precisions: list[str], sizes: list[str]
) -> pd.DataFrame:
    if frame.empty:
        return frame
    keep = frame["Type"].isin(types) & frame["Precision"].isin(precisions)
    in_size = pd.Series(False, index=frame.index)
    for label in sizes:
        bounds = SIZE_BUCKETS[label]
        if bounds is None:
            in_size |= frame["Params (M)"].isna()
        else:
            in_size |= frame["Params (M)"].between(bounds[0], bounds[1], inclusive="left")
    return frame[keep & in_size]


def queue_frame(settings: Settings) -> pd.DataFrame:
    requests = list_requests(settings.requests)
    columns = [
        "Model",
        "Revision",
        "Precision",
        "Benchmarks",
        "Status",
        "Submitted",
        "Started",
        "Finished",
        "Reason",
    ]
    rows = [
        [
            r.model,
            r.revision,
            r.precision,
            ", ".join(r.benchmarks),
            r.status,
            r.submitted_time,
            r.started_time or "",
            r.finished_time or "",
            r.failure_reason or "",
        ]
        for r in sorted(requests, key=lambda r: r.submitted_time, reverse=True)
    ]
    return pd.DataFrame(rows, columns=columns)


def passk_figure(settings: Settings, benchmark: str, results: list[dict] | None = None):
    """pass@k against k, one line per model, for one benchmark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for item in results if results is not None else load_results(settings):
        metrics = item["results"].get(benchmark)
        if not metrics:
            continue
        points = sorted((int(m.split("@")[1]), v) for m, v in metrics.items() if m.startswith("pass@"))
        if points:
            label = f"{item['config']['model']} ({item['config'].get('precision')})"
            ax.plot([k for k, _ in points], [100 * v for _, v in points], marker="o", label=label)
    ax.set_xscale("log", base=2)
    top = max((max(line.get_ydata(), default=0) for line in ax.lines), default=0)
    ax.set_ylim(0, min(100, max(5.0, 1.1 * top)))  # a percentage: never below 0 (all-zero scores included)
    ax.set_xlabel("k (samples)")
    ax.set_ylabel("pass@k (%)")
    ax.set_title(benchmark)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


ABOUT = """
## What is measured

Every model is evaluated on each benchmark by sampling **N completions per problem** and checking each one
with the benchmark's verifier, in a sandbox (`trl_ext.rewards.task_reward`). Scores are percentages of the
benchmark's problems; the results files also hold each score's standard error over problems.

- **pass@k**: the probability that at least one of k samples is correct — the unbiased estimator of Chen et
  al. 2021 (arXiv 2107.03374) computed from the N samples: 1 − C(N−c, k)/C(N, k).
- **maj@k** (benchmarks with canonical answers): the probability that the most frequent answer among k
  samples is correct (ties split evenly; samples without an answer never win), averaged exactly over all
  k-subsets of the N samples.
- **1@k** (code benchmarks with public tests): one submission among k samples, chosen by the public tests.
- **compression_rate** (Kolmogorov benchmarks, arXiv 2503.13992): total bits of the sampled programs over
  total bits of the sequences, a failed program counting as the gzip encoding of its sequence; lower is better.
  Accuracy is pass@1.
- **patch_similarity** (`swe`, SWE-RL arXiv 2502.18449): the mean `difflib` similarity of the predicted patch
  with the oracle patch, a completion that cannot be parsed or applied counting 0.
- **Average pass@1**: the mean pass@1 over the benchmarks; it ranks the table.

## Evaluation settings

{settings_table}

## How to reproduce a score

    pip install -e .    # in a checkout of trl-ext (not on PyPI), or a wheel built there: python -m build --wheel
    trl-ext evaluate --model ORG/MODEL --dataset DATASET --dataset-config CONFIG --samples N --k 1,4,8

The results JSON of every evaluation is stored in the results dataset, with its full configuration
(generation settings, versions, the dataset's and the model's resolved revisions, harness version).

## Submitting

Use the Submit tab or `trl-ext submit --leaderboard <this Space> --model ORG/MODEL`. A model must have a
transformers config, declare a license in its model card, and may be submitted once per (revision,
precision, benchmark). Each account (organisation, off a Space) may submit {daily_limit} models per day.
"""


def about_text(settings: Settings) -> str:
    rows = [
        f"| {b.name} | {b.split} | {b.limit or 'all'} | {b.samples} | {', '.join(map(str, b.ks))} | "
        f"{b.max_new_tokens} | {b.temperature} |"
        for b in settings.benchmarks
    ]
    table = "\n".join(
        [
            "| benchmark | split | problems | samples (N) | k | max new tokens | temperature |",
            "|---|---|---|---:|---|---:|---:|",
            *rows,
        ]
    )
    return ABOUT.format(settings_table=table, daily_limit=settings.daily_limit)


def on_space() -> bool:
    """Running on a Hugging Face Space (gradio's own test: SYSTEM=spaces and a SPACE_ID)."""
    return os.environ.get("SYSTEM") == "spaces" and bool(os.environ.get("SPACE_ID"))


SIGN_IN = (
    "Sign in with your Hugging Face account (the button above) to submit, or submit with "
    "`trl-ext submit`, which sends your own Hugging Face token."
)


def submit_handler(
    settings: Settings,
    model,
    revision,
    precision,
    model_type,
    benchmarks,
    submitter,
    profile=None,
    token=None,
):
    """The Submit tab's handler and the `/submit` API: a success message, or `gr.Error` with the reason
    (so API clients get an error, not a success string). On a Space the submitter is the signed-in account
    (`profile`) or the account the Hub's `whoami` gives for the caller's own token (`token`, a gr.OAuthToken);
    the token serves that one check only."""
    import gradio as gr

    account = None
    if on_space():
        if profile is not None:
            account = profile.username
        elif token is not None:
            try:
                account = hub.account_of(token.token)
            except hub.HubError as err:
                raise gr.Error(f"Rejected: {err}", print_exception=False) from None
        else:
            raise gr.Error(SIGN_IN, print_exception=False)
        submitter = account
    try:
        request = submit(
            settings,
            model,
            revision or "main",
            precision,
            model_type,
            list(benchmarks or []),
            submitter or "anonymous",
            account=account,
        )
    except (SubmissionError, hub.HubError) as err:
        raise gr.Error(f"Rejected: {err}", print_exception=False) from None
    return submitted_message(request)


# Headers break between words only (never "Ran k", "Averag e"): the column grows to its longest word instead.
CSS = """
.leaderboard-table table { font-size: 0.9em; }
.leaderboard-table th, .leaderboard-table th * { word-break: normal !important; overflow-wrap: normal !important; hyphens: none !important; }
"""


def build_app(settings: Settings):
    import gradio as gr

    bench_names = [b.name for b in settings.benchmarks]

    def table(types, precisions, sizes):
        return display_frame(filter_frame(leaderboard_frame(settings), types, precisions, sizes))

    def updated():
        return last_updated(load_results(settings))

    def plot(benchmark):
        return passk_figure(settings, benchmark) if benchmark else None

    with gr.Blocks(title=settings.title) as app:
        gr.Markdown(
            f"# {settings.title}\nModels trained for what they are asked at inference time: pass@k, maj@k and n@k on verifiable benchmarks."
        )
        stamp = gr.Markdown(elem_id="last-updated")
        with gr.Tabs():
            with gr.Tab("Leaderboard"):
                with gr.Row():
                    types = gr.CheckboxGroup(list(MODEL_TYPES), value=list(MODEL_TYPES), label="Model type")
                    precisions = gr.CheckboxGroup(list(PRECISIONS), value=list(PRECISIONS), label="Precision")
                    sizes = gr.CheckboxGroup(list(SIZE_BUCKETS), value=list(SIZE_BUCKETS), label="Size")
                board = gr.Dataframe(
                    datatype="markdown",
                    interactive=False,
                    show_search="search",
                    pinned_columns=2,
                    wrap=True,
                    elem_id="leaderboard-table",
                    elem_classes="leaderboard-table",
                )
                refresh = gr.Button("Refresh")
                filters = [types, precisions, sizes]
                app.load(table, filters, board, api_name="leaderboard")
                app.load(updated, None, stamp, api_name=False)
                for control in filters:
                    control.change(table, filters, board, api_name=False)
                refresh.click(table, filters, board, api_name=False)
                refresh.click(updated, None, stamp, api_name=False)
            with gr.Tab("Submit"):
                if on_space():
                    gr.LoginButton()
                model = gr.Textbox(label="Model id (org/name)", elem_id="model-id")
                with gr.Row():
                    revision = gr.Textbox(value="main", label="Revision", elem_id="revision")
                    precision = gr.Dropdown(list(PRECISIONS), value=DEFAULT_PRECISION, label="Precision")
                    model_type = gr.Dropdown(list(MODEL_TYPES), value="fine-tuned", label="Model type")
                benchmarks = gr.CheckboxGroup(bench_names, value=bench_names, label="Benchmarks")
                submitter = gr.Textbox(
                    placeholder="anonymous", label="Your name", visible=not on_space(), elem_id="submitter"
                )  # on a Space: the signed-in account
                send = gr.Button("Submit", variant="primary", elem_id="submit-button")
                message = gr.Markdown(elem_id="submit-message")

                def submit_model(
                    model,
                    revision,
                    precision,
                    model_type,
                    benchmarks,
                    submitter,
                    profile: gr.OAuthProfile | None = None,
                    token: gr.OAuthToken | None = None,
                ):
                    return submit_handler(
                        settings,
                        model,
                        revision,
                        precision,
                        model_type,
                        benchmarks,
                        submitter,
                        profile,
                        token,
                    )

            with gr.Tab("Queue"):
                queue = gr.Dataframe(interactive=False, elem_id="queue-table")
                app.load(lambda: queue_frame(settings), None, queue, api_name="queue")
                gr.Button("Refresh").click(lambda: queue_frame(settings), None, queue, api_name=False)
            # the queue shows a new request as soon as it is accepted
            send.click(
                submit_model,
                [model, revision, precision, model_type, benchmarks, submitter],
                message,
                api_name="submit",
            ).success(lambda: queue_frame(settings), None, queue, api_name=False)
            with gr.Tab("Plots"):
                chosen = gr.Dropdown(
                    bench_names, value=bench_names[0] if bench_names else None, label="Benchmark"
                )
                figure = gr.Plot(elem_id="passk-plot")
                app.load(plot, chosen, figure, api_name=False)
                chosen.change(plot, chosen, figure, api_name="plot")
            with gr.Tab("About"):
                gr.Markdown(about_text(settings))
    return app


def launch(settings: Settings, port: int = 7860, host: str = "127.0.0.1", block: bool = True):
    app = build_app(settings)
    app.launch(
        server_name=host,
        server_port=port,
        css=CSS,
        prevent_thread_lock=not block,
        show_error=True,
        quiet=True,
    )
    return app
