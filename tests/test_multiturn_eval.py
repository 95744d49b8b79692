"""Multi-turn evaluation (`trl_ext.eval.multiturn`, `trl-ext evaluate --turns T`): per-turn solve rates and
n@k on hand-computed cases, scripted episodes on code problems, and the CLI with a tiny model."""

import json
import re
import string
import subprocess
import sys

import pytest
from datasets import Dataset, DatasetDict

from trl_ext import hub
from trl_ext.cli import main
from trl_ext.episodes import EpisodeSettings, FeedbackTokenizer
from trl_ext.eval.multiturn import evaluate_episodes, multiturn_metrics
from trl_ext.execution import backends
from trl_ext.models import USER, build_tiny_model


def test_multiturn_evaluation_does_not_load_trl():
    """The episode logic lives below the trainers (`trl_ext.episodes`): evaluating does not import TRL."""
    code = "import sys, trl_ext.eval.multiturn, trl_ext.episodes; print('trl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_metrics_closed_form():
    # 2 problems x 2 episodes x up to 2 turns; problem 1's second episode passes public but not private tests
    correct = [[[True], [False, True]], [[False, False], [False, False]]]
    public = [[[True], [False, True]], [[False, False], [False, True]]]
    ends = [["passed", "passed"], ["max_turns", "passed"]]
    metrics = multiturn_metrics(correct, public, ends, turns=2, ks=[1, 2])
    assert metrics == pytest.approx(
        {
            "solve@turn1": (1 / 2 + 0) / 2,
            "solve@turn2": (1 + 0) / 2,
            "pass@1": 0.5,
            "1@2": 0.5,  # one episode of 2 turns, its final answer submitted
            "pass@2": 0.5,
            "1@4": (1 + 0) / 2,  # problem 1: the public passer is submitted, and it is wrong
            "feedback_uptake": 2 / 3,  # (p0 e1: F->T), (p1 e0: F->F), (p1 e1: F->T)
        }
    )


PROBLEMS = [
    ("echo", "3", "3", "5", "5", ["print(input())"]),
    ("plus one", "1", "2", "5", "6", ["print(1)", "print(int(input())+1)"]),
    ("double", "2", "4", "7", "14", ["x = (", "print(int(input())*2)"]),
    ("never", "2", "3", "7", "8", ["print(0)", "print(1)"]),
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    path = build_tiny_model(
        tmp_path_factory.mktemp("mt") / "m", [string.printable], hidden_size=16, num_hidden_layers=1
    )
    return AutoTokenizer.from_pretrained(path)


def evaluate_scripted(tokenizer):
    """`evaluate_episodes` on PROBLEMS, each answer turn played from its script, 2 samples, 2 turns."""
    rows = [
        {
            "prompt": [{"role": "user", "content": f"problem {i}: {name}"}],
            "task": "code",
            "fn_name": None,
            "public_tests": [{"input": pi, "output": po}],
            "private_tests": [{"input": qi, "output": qo}],
        }
        for i, (name, pi, po, qi, qo, _) in enumerate(PROBLEMS)
    ]

    def generate(prompts):
        out = []
        for ids in prompts:
            text = tokenizer.decode(ids, skip_special_tokens=False)
            script = PROBLEMS[int(re.search(r"problem (\d+)", text).group(1))][-1]
            out.append(tokenizer.encode(script[text.count(USER) - 1]) + [tokenizer.eos_token_id])
        return out, None

    return evaluate_episodes(
        rows,
        2,
        EpisodeSettings(max_turns=2, max_completion_length=400),
        [1, 2],
        generate=generate,
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
        prompt_ids=lambda m: tokenizer.apply_chat_template(m, add_generation_prompt=True, return_dict=False),
        feedback_ids=FeedbackTokenizer(tokenizer),
        eos_token_ids=[tokenizer.eos_token_id],
    )


def test_scripted_episodes(tokenizer):
    metrics, episodes = evaluate_scripted(tokenizer)
    assert [len(a) for a in episodes.answers] == [1, 1, 2, 2, 2, 2, 2, 2]
    assert metrics["solve@turn1"] == 1 / 4 and metrics["solve@turn2"] == 3 / 4
    assert metrics["1@2"] == metrics["1@4"] == metrics["pass@1"] == 3 / 4
    assert metrics["feedback_uptake"] == 4 / 6  # problems 1 and 2 fix their answer, problem 3 does not


def test_unjudged_episodes_are_refused_not_scored_wrong(tokenizer):
    """No sandbox reachable: the episodes could not be judged, and counting them wrong would publish a wrong score."""
    # the discard port: nothing listens there
    backends.configure("sandbox-fusion=http://127.0.0.1:9;max_attempts=2;backoff_s=0.01")
    try:
        with pytest.raises(RuntimeError, match="8 of 8 episodes could not be judged"):
            evaluate_scripted(tokenizer)
    finally:
        backends.configure(None)
        backends.close()


def test_evaluate_cli_turns(tmp_path, capsys):
    rows = [
        {
            "prompt": [{"role": "user", "content": f"print {n}"}],
            "task": "code",
            "fn_name": None,
            "public_tests": [{"input": "", "output": str(n)}],
            "private_tests": [{"input": "", "output": str(n)}],
        }
        for n in range(3)
    ]
    dataset = str(tmp_path / "code")
    hub.push_dataset(DatasetDict(test=Dataset.from_list(rows)), dataset, "default")
    model = str(build_tiny_model(tmp_path / "model", [string.printable], hidden_size=16, num_hidden_layers=1))
    out = tmp_path / "results.json"
    argv = ["evaluate", "--model", model, "--dataset", dataset, "--samples", "2", "--k", "1,2"]
    assert main([*argv, "--turns", "2", "--max-new-tokens", "8", "--output", str(out)]) == 0
    metrics = json.loads(out.read_text())["results"]["code/default"]
    assert {"solve@turn1", "solve@turn2", "1@2", "1@4", "pass@1", "pass@2"} <= set(metrics)
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert "solve@turn2" in capsys.readouterr().out


def test_evaluate_cli_turns_errors(tmp_path, capsys):
    argv = ["evaluate", "--model", str(tmp_path), "--dataset", str(tmp_path), "--samples", "2"]
    assert main([*argv, "--turns", "0"]) == 2
    assert "--turns: must be at least 1, got 0" in capsys.readouterr().err
