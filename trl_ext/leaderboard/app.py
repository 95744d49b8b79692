"""The leaderboard's Gradio 6 app: leaderboard, submit, queue, plots and about tabs.

    trl-ext leaderboard --requests ./hub/leaderboard/requests --port 7860

Data comes fresh from the requests and results datasets on every load and refresh.
"""

from __future__ import annotations

import math

import pandas as pd

from trl_ext import hub
from trl_ext.leaderboard.settings import MODEL_TYPES, Settings
from trl_ext.leaderboard.submissions import SubmissionError, list_requests, submit

INFO_COLUMNS = ["Model", "Revision", "Precision", "Type", "Params (M)"]
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


def leaderboard_frame(settings: Settings, results: list[dict] | None = None) -> pd.DataFrame:
    """One row per (model, revision, precision): info columns, then one column per benchmark metric."""
    rows: dict[tuple, dict] = {}
    for item in results if results is not None else load_results(settings):
        config = item["config"]
        key = (config["model"], config.get("revision"), config.get("precision"))
        row = rows.setdefault(
            key,
            {
                "Model": _model_link(config["model"]),
                "Revision": config.get("revision") or "main",
                "Precision": config.get("precision"),
                "Type": config.get("model_type", "other"),
                "Params (M)": round(config["params"] / 1e6, 3) if config.get("params") else None,
            },
        )
        for benchmark, metrics in item["results"].items():
            for metric, value in metrics.items():
                row[f"{benchmark} {metric}"] = round(100 * value, 1)
    frame = pd.DataFrame(list(rows.values()), columns=None)
    if frame.empty:
        return pd.DataFrame(columns=INFO_COLUMNS)
    metric_columns = sorted((c for c in frame.columns if c not in INFO_COLUMNS), key=_metric_order)
    frame = frame[INFO_COLUMNS + metric_columns]
    first = next(
        (c for c in metric_columns if c.endswith("pass@1")), metric_columns[0] if metric_columns else None
    )
    return frame.sort_values(first, ascending=False, na_position="last") if first else frame


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

Every model is evaluated on each benchmark by sampling **N completions per problem** (temperature 1.0) and
checking each one with the benchmark's verifier, in a sandbox (`trl_ext.rewards.task_reward`).

- **pass@k**: the probability that at least one of k samples is correct — the unbiased estimator of Chen et
  al. 2021 (arXiv 2107.03374) computed from the N samples: 1 − C(N−c, k)/C(N, k).
- **maj@k**: the probability that the most frequent answer among k samples is correct (ties split evenly;
  samples without an answer never win), averaged exactly over all k-subsets of the N samples.
- **1@k** (code benchmarks with public tests): one submission among k samples, chosen by the public tests.

## How to reproduce a score

    pip install trl-ext
    trl-ext evaluate --model ORG/MODEL --dataset DATASET --config CONFIG --samples N --k 1,4,8

The results JSON of every evaluation is stored in the results dataset, with its full configuration
(generation settings, harness version).

## Submitting

Use the Submit tab or `trl-ext submit --leaderboard <this Space> --model ORG/MODEL`. A model must load with
transformers, declare a license in its model card, and may be submitted once per (revision, precision,
benchmark). Each organisation may submit a limited number of models per day.
"""


def submit_message(settings: Settings, model, revision, precision, model_type, benchmarks, submitter) -> str:
    """The Submit tab's handler (also its API, `/submit`): a message starting with ✅ or ❌."""
    try:
        request = submit(
            settings,
            model,
            revision or "main",
            precision,
            model_type,
            list(benchmarks or []),
            submitter or "anonymous",
        )
    except (SubmissionError, hub.HubError) as err:
        return f"❌ Rejected: {err}"
    return f"✅ Submitted {request.model} ({request.revision}, {request.precision}) for {', '.join(request.benchmarks)}: request {request.id} is PENDING."


CSS = ".leaderboard-table table { font-size: 0.9em; }"


def build_app(settings: Settings):
    import gradio as gr

    bench_names = [b.name for b in settings.benchmarks]
    with gr.Blocks(title=settings.title) as app:
        gr.Markdown(
            f"# {settings.title}\nModels trained for what they are asked at inference time: pass@k, maj@k and n@k on verifiable benchmarks."
        )
        with gr.Tabs():
            with gr.Tab("Leaderboard"):
                with gr.Row():
                    types = gr.CheckboxGroup(list(MODEL_TYPES), value=list(MODEL_TYPES), label="Model type")
                    precisions = gr.CheckboxGroup(
                        ["float32", "bfloat16", "float16", "4bit"],
                        value=["float32", "bfloat16", "float16", "4bit"],
                        label="Precision",
                    )
                    sizes = gr.CheckboxGroup(list(SIZE_BUCKETS), value=list(SIZE_BUCKETS), label="Size")
                table = gr.Dataframe(
                    value=lambda: leaderboard_frame(settings),
                    datatype="markdown",
                    interactive=False,
                    show_search="search",
                    pinned_columns=1,
                    wrap=True,
                    elem_id="leaderboard-table",
                    elem_classes="leaderboard-table",
                )
                refresh = gr.Button("Refresh")

                def shown(t, p, s):
                    return filter_frame(leaderboard_frame(settings), t, p, s)

                for control in (types, precisions, sizes):
                    control.change(shown, [types, precisions, sizes], table, api_name=False)
                refresh.click(shown, [types, precisions, sizes], table, api_name=False)
            with gr.Tab("Submit"):
                model = gr.Textbox(label="Model id (org/name)")
                with gr.Row():
                    revision = gr.Textbox(value="main", label="Revision")
                    precision = gr.Dropdown(
                        ["float32", "bfloat16", "float16", "4bit"], value="bfloat16", label="Precision"
                    )
                    model_type = gr.Dropdown(list(MODEL_TYPES), value="fine-tuned", label="Model type")
                benchmarks = gr.CheckboxGroup(bench_names, value=bench_names, label="Benchmarks")
                submitter = gr.Textbox(value="anonymous", label="Your name")
                send = gr.Button("Submit", variant="primary")
                message = gr.Markdown()
                send.click(
                    lambda *a: submit_message(settings, *a),
                    [model, revision, precision, model_type, benchmarks, submitter],
                    message,
                    api_name="submit",
                )
            with gr.Tab("Queue"):
                queue = gr.Dataframe(
                    value=lambda: queue_frame(settings), interactive=False, elem_id="queue-table"
                )
                gr.Button("Refresh").click(lambda: queue_frame(settings), None, queue, api_name=False)
            with gr.Tab("Plots"):
                chosen = gr.Dropdown(
                    bench_names, value=bench_names[0] if bench_names else None, label="Benchmark"
                )
                plot = gr.Plot(value=lambda: passk_figure(settings, bench_names[0]) if bench_names else None)
                chosen.change(lambda b: passk_figure(settings, b), chosen, plot, api_name=False)
            with gr.Tab("About"):
                gr.Markdown(ABOUT)
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
