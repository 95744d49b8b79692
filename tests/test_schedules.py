"""The seed papers' learning-rate schedules (`trl_ext.schedules`): closed forms against the papers' formulas, and
`lr_scheduler_type: rex` / `refined` from a recipe through TrlParser in short training runs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers.optimization import get_scheduler

from trl_ext import schedules

ROOT = Path(__file__).resolve().parents[1]


def _rates(name, steps, lr=0.5, **kwargs):
    """The learning rate each of `steps` optimizer steps uses, under transformers' get_scheduler(name)."""
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.AdamW([param], lr=lr)
    scheduler = get_scheduler(
        name, optimizer, num_warmup_steps=0, num_training_steps=steps, scheduler_specific_kwargs=kwargs
    )
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_rex_is_the_papers_formula():
    # arXiv 2107.04197: eta_t = eta_0 * (1 - t/T) / (1/2 + 1/2 * (1 - t/T)), t = 0 .. T-1.
    T, eta0 = 10, 0.5
    expected = [eta0 * (1 - t / T) / (0.5 + 0.5 * (1 - t / T)) for t in range(T)]
    assert _rates("rex", T, lr=eta0) == pytest.approx(expected)
    assert (
        expected[0] == eta0
    )  # the first step runs at the peak (pytorch-optimizer's class alone starts at min_lr)
    floor = 0.1 * eta0
    assert _rates("rex", T, lr=eta0, min_lr_ratio=0.1) == pytest.approx(
        [floor + (eta0 - floor) * e / eta0 for e in expected]
    )
    assert [schedules.rex_factor(t, T) for t in range(T + 1)] == pytest.approx(
        [e / eta0 for e in expected] + [0]
    )


def _median_filter(values, width):
    half = width // 2
    padded = [values[0]] * half + list(values) + [values[-1]] * half
    return [float(np.median(padded[i : i + width])) for i in range(len(values))]


def test_refined_is_algorithm_1():
    rng = np.random.default_rng(0)
    norms = rng.uniform(0.5, 3.0, size=23)
    for width, power in ((1, 2), (3, 2), (5, 1)):
        smoothed = _median_filter(norms, width)
        w = [g ** (-power) for g in smoothed]
        eta = [
            w[t] * sum(w[p] for p in range(t + 1, len(w))) for t in range(len(w))
        ]  # eta_t = w_t sum_{p>t} w_p
        expected = [e / max(eta) for e in eta]
        assert schedules.refined_multipliers(norms, window=width, power=power) == pytest.approx(expected)
    # The paper's special case: constant gradient norms refine to linear decay to zero.
    T = 9
    assert schedules.refined_multipliers([2.0] * T) == pytest.approx(
        [(T - 1 - t) / (T - 1) for t in range(T)]
    )
    # Falling early norms give a warmup-like start: the peak is not at the first step.
    assert np.argmax(schedules.refined_multipliers([8, 4, 2, 1, 1, 1, 1, 1])) > 0
    with pytest.raises(ValueError, match="at least 2"):
        schedules.refined_multipliers([1.0])
    with pytest.raises(ValueError, match="finite and positive"):
        schedules.refined_multipliers([1.0, 0.0, 1.0])


def test_refined_schedule_file_stretches_to_the_run(tmp_path):
    path = tmp_path / "schedule.json"
    schedules.write_schedule(path, [1.0, 0.5, 0.0], source="test")
    assert _rates("refined", 3, lr=0.2, schedule_file=str(path)) == pytest.approx([0.2, 0.1, 0.0])
    assert _rates("refined", 6, lr=0.2, schedule_file=str(path)) == pytest.approx(
        [0.2, 0.15, 0.1, 0.05, 0.0, 0.0]
    )
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a refined schedule"):
        _rates("refined", 3, schedule_file=str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match="warmup_steps: 0"):
        get_scheduler("rex", torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1), 2, 10)


def _load_script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pbe_target(tmp_path_factory):
    import hub_datasets
    from trl_ext import hub

    target = tmp_path_factory.mktemp("hub") / "pbe"
    built = hub_datasets.build("pbe", "demo", n=12, n_test=2, seed=0)
    hub.push_dataset(built.dataset, str(target), "demo", card_meta=built.card_meta, card_body=built.card_body)
    return str(target)


def _train(tmp_path, pbe_target, tiny_model, name, **changes):
    from trl_ext.train import main

    recipe = yaml.safe_load((ROOT / "recipes/passk/cpu-tiny.yaml").read_text())
    recipe.update(
        model_name_or_path=tiny_model,
        tiny_model_corpus_rows=0,
        model_license="apache-2.0",
        dataset_name=pbe_target,
        num_generations=4,
        per_device_train_batch_size=4,
        k=2,
        max_completion_length=4,
        max_steps=3,
        learning_rate=0.01,
        output_dir=str(tmp_path / name),
        **changes,
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    main("passk", ["--config", str(path)])
    state = json.loads((tmp_path / name / "trainer_state.json").read_text())
    return [e for e in state["log_history"] if "learning_rate" in e], tmp_path / name / "trainer_state.json"


@pytest.mark.slow
def test_rex_and_refined_from_recipes(tmp_path, pbe_target, tiny_model):
    # transformers logs the rate each step ran at.
    logs, state = _train(tmp_path, pbe_target, tiny_model, "rex", lr_scheduler_type="rex")
    assert [e["learning_rate"] for e in logs] == pytest.approx(
        [0.01 * schedules.rex_factor(s, 3) for s in range(3)]
    )
    assert state.exists()  # trl_ext.train saves the log history that scripts/refine_schedule.py reads


def test_refined_recipe_parses(tmp_path):
    from trl_ext.train import make_parser

    schedule = tmp_path / "refined.json"
    schedules.write_schedule(schedule, [0.5, 1.0, 0.5, 0.25])
    recipe = yaml.safe_load((ROOT / "recipes/passk/cpu-tiny.yaml").read_text())
    recipe.update(lr_scheduler_type="refined", lr_scheduler_kwargs={"schedule_file": str(schedule)})
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    _, args, _ = make_parser("passk").parse_args_and_config(args=["--config", str(tmp_path / "recipe.yaml")])
    assert args.lr_scheduler_type == "refined"
    assert _rates(args.lr_scheduler_type, 4, lr=0.01, **args.lr_scheduler_kwargs) == pytest.approx(
        [0.005, 0.01, 0.005, 0.0025]
    )


@pytest.mark.slow
def test_bench_refines_the_linear_run(tmp_path):
    # scripts/bench_schedules.py at toy size: `refined` comes from scripts/refine_schedule.py
    # on the linear run's trainer_state.json, and the next run follows it.
    bench = _load_script("bench_schedules")
    argv = ["--seeds", "0", "--steps", "5", "--n-train", "16", "--n-test", "4", "--batch-size", "4"]
    argv += ["--threads", str(torch.get_num_threads())]  # leave this process's setting as it is
    argv += ["--schedules", "refined", "linear"]  # rex: test_rex_and_refined_from_recipes
    table = bench.main([*argv, "--learning-rate", "0.01", "--output", str(tmp_path)])
    assert [row["schedule"] for row in table] == ["linear", "refined"]  # linear first: refined needs it
    runs = {r["schedule"]: r for r in json.loads((tmp_path / "results.json").read_text())["runs"]}
    assert runs["linear"]["learning_rates"] == pytest.approx([0.01 * (5 - s) / 5 for s in range(5)])
    expected = schedules.refined_multipliers(runs["linear"]["grad_norms"], window=1, power=1)
    assert runs["refined"]["learning_rates"] == pytest.approx([0.01 * m for m in expected])
    assert (tmp_path / "schedules.png").exists() and "refined" in (tmp_path / "results.md").read_text()
