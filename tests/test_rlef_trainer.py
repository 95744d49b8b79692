"""RLEFTrainer and its episodes: episode control, exact feedback masks, feedback granularity, private-test
reward, the verifiers' feedback, metrics, training, resume, two processes, the script with its CPU recipe."""

import json
import math
import re
import string
from pathlib import Path

import pytest
import torch
from conftest import cpu_grpo_args
from datasets import Dataset
from trainer_helpers import run_train_script, run_two_processes

from trl_ext import RLEFConfig, RLEFTrainer
from trl_ext.episodes import (
    EpisodeSettings,
    FeedbackTokenizer,
    Verdict,
    episode_metrics,
    feedback_message,
    public_verdicts,
    run_episodes,
)
from trl_ext.execution import backends
from trl_ext.models import USER
from trl_ext.rewards import kolmogorov, pbe
from trl_ext.trainers.rlef import make_private_tests_reward

ROOT = Path(__file__).resolve().parents[1]


def io(inp: str, out: str) -> list[dict]:
    return [{"input": inp, "output": out}]


# Problem i is named "problem i" in its prompt. Public tests are built so that the scripted answers below pass
# or fail them: problem 1's "print(2)" passes the public test but not the private one.
PROBLEMS = [
    ("echo the input", io("3", "3"), io("5", "5")),
    ("print the input plus one", io("1", "2"), io("5", "6")),
    ("print twice the input", io("2", "4"), io("7", "14")),
]
# SCRIPTS[problem][variant] = the answer of each turn. The first sample of a problem in a batch plays variant 0,
# the second variant 1; later turns recognise the variant by its first answer.
SCRIPTS = [
    [["print(input())"], ["print(9)", "print(input())"]],
    [["print(1)", "print(2)"], ["print(int(input())+1)"]],
    [["print(0)", "print(00)", "print(000)"], ["x = (", "y = (", "z = ("]],
]


def code_problems(n_copies: int = 1) -> Dataset:
    rows = [
        {
            "prompt": [{"role": "user", "content": f"problem {i}: {text}"}],
            "task": "code",
            "fn_name": None,
            "starter_code": "",
            "public_tests": public,
            "private_tests": private,
        }
        for i, (text, public, private) in enumerate(PROBLEMS)
    ]
    return Dataset.from_list(rows * n_copies)


class ScriptedPolicy:
    """A deterministic fake generator with the trainer's `_generate_single_turn` signature. On the first turn
    (all samples of the process, in order) sample j plays variant (offset + j) % 2: groups are consecutive
    pairs of the global batch, whose first sample on this process has index `offset`."""

    def __init__(self, tokenizer, offset: int = 0):
        self.tokenizer, self.offset, self.calls = tokenizer, offset, []

    def answer_ids(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False) + [self.tokenizer.eos_token_id]

    def __call__(self, prompt_ids, images=None, multimodal_fields=None, num_generations=1, **kwargs):
        self.calls.append(len(prompt_ids))
        out = []
        for j, ids in enumerate(prompt_ids):
            text = self.tokenizer.decode(ids, skip_special_tokens=False)
            problem = int(re.search(r"problem (\d+)", text).group(1))
            turn = text.count(USER)
            if turn == 1:
                variant = (self.offset + j) % 2
            else:
                variant = next(v for v, s in enumerate(SCRIPTS[problem]) if s[0] in text)
            script = SCRIPTS[problem][variant]
            out.append(self.answer_ids(script[min(turn, len(script)) - 1]))
        return out, None


@pytest.fixture(scope="module")
def code_model(tmp_path_factory) -> str:
    from trl_ext.models import build_tiny_model

    return str(
        build_tiny_model(
            tmp_path_factory.mktemp("rlef") / "model",
            [string.printable],
            hidden_size=32,
            num_hidden_layers=2,
            intermediate_size=64,
        )
    )


@pytest.fixture(scope="module")
def tokenizer(code_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(code_model)


def episodes_for(tokenizer, rows, settings, policy=None):
    prompt_ids = [
        tokenizer.apply_chat_template(
            r["prompt"], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        for r in rows
    ]
    policy = policy or ScriptedPolicy(tokenizer)
    episodes = run_episodes(
        prompt_ids,
        rows,
        generate=policy,
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
        feedback_ids=FeedbackTokenizer(tokenizer),
        eos_token_ids=[tokenizer.eos_token_id],
        settings=settings,
    )
    return prompt_ids, episodes, policy


def paired_rows():
    rows = code_problems().to_list()
    return [r for r in rows for _ in range(2)]  # each problem twice: variants 0 and 1


# ------------------------------------------------------------------------------------------ config, data


def config(tmp_path, **kwargs):
    base = cpu_grpo_args(
        tmp_path, per_device_train_batch_size=6, num_generations=2, max_completion_length=320
    )
    base.update({k: kwargs.pop(k) for k in list(kwargs) if k in base or k in ("save_strategy", "save_steps")})
    return RLEFConfig(**base, **kwargs)


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="max_turns must be at least 1"):
        config(tmp_path, max_turns=0)
    with pytest.raises(ValueError, match="feedback_level must be one of"):
        config(tmp_path, feedback_level="verbose")
    with pytest.raises(ValueError, match="only field is {message}"):
        config(tmp_path, feedback_template="{feedback}")
    with pytest.raises(ValueError, match="min_answer_tokens must be at least 1"):
        config(tmp_path, min_answer_tokens=0)
    with pytest.raises(ValueError, match="prompt_variant must be one of"):
        config(tmp_path, prompt_variant="chain")
    with pytest.raises(ValueError, match="reward_pass .* must exceed reward_fail"):
        config(tmp_path, reward_pass=-1.0)


def test_dataset_errors(code_model, tmp_path):
    args = config(tmp_path)
    bad_task = code_problems().map(lambda r: {"task": "puzzle"})
    with pytest.raises(ValueError, match="task 'puzzle', which has no feedback verifier"):
        RLEFTrainer(model=code_model, args=args, train_dataset=bad_task)
    no_private = code_problems().remove_columns("private_tests")
    with pytest.raises(ValueError, match="no private_tests and no test_code"):
        RLEFTrainer(model=code_model, args=args, train_dataset=no_private)
    text_prompts = code_problems().map(lambda r: {"prompt": "problem"}, remove_columns="prompt")
    with pytest.raises(ValueError, match="needs a conversational `prompt`"):
        RLEFTrainer(model=code_model, args=args, train_dataset=text_prompts)
    with pytest.raises(ValueError, match="runs its own episodes: rollout_func"):
        RLEFTrainer(model=code_model, args=args, train_dataset=code_problems(), rollout_func=print)


# -------------------------------------------------------------------------------------- episode control


def test_episode_stops_at_first_passing_turn_and_runs_to_max_turns_otherwise(tokenizer):
    _, episodes, policy = episodes_for(tokenizer, paired_rows(), EpisodeSettings(max_turns=3))
    assert episodes.public_passed == [
        [True],
        [False, True],
        [False, True],
        [True],
        [False, False, False],
        [False, False, False],
    ]
    assert episodes.end_reason == ["passed", "passed", "passed", "passed", "max_turns", "max_turns"]
    assert policy.calls == [6, 4, 2]  # only the active episodes are generated, one batch per turn
    assert [a[-1] for a in episodes.answers] == ["print(input())", "print(input())", "print(2)"] + [
        "print(int(input())+1)",
        "print(000)",
        "z = (",
    ]
    _, one_turn, _ = episodes_for(tokenizer, paired_rows(), EpisodeSettings(max_turns=1))
    assert [len(a) for a in one_turn.answers] == [1] * 6 and one_turn.env_mask == [
        [1] * len(m) for m in one_turn.env_mask
    ]


def test_feedback_spans_are_exactly_the_masked_spans(tokenizer):
    settings = EpisodeSettings(max_turns=3, feedback_level="test")
    _, episodes, policy = episodes_for(tokenizer, paired_rows(), settings)
    feedback_ids = FeedbackTokenizer(tokenizer)
    rows = paired_rows()
    for i, (ids, mask) in enumerate(zip(episodes.completion_ids, episodes.env_mask)):
        expected_ids, expected_mask = [], []
        for turn, answer in enumerate(episodes.answers[i]):
            answer_ids = policy.answer_ids(answer)
            expected_ids += answer_ids
            expected_mask += [1] * len(answer_ids)
            if turn < len(episodes.feedback[i]):
                span = feedback_ids(episodes.feedback[i][turn])
                assert tokenizer.decode(span) == f"\n{USER}{episodes.feedback[i][turn]}\n<|assistant|>"
                expected_ids += span
                expected_mask += [0] * len(span)
        assert ids == expected_ids and mask == expected_mask
        assert len(episodes.feedback[i]) == len(episodes.answers[i]) - 1
    # problem 1, variant 0: "print(1)" on input 1 printed 1 where 2 was expected
    assert episodes.feedback[2][0] == (
        "Your code failed a public test.\nInput:\n1\nExpected:\n2\nGot:\n1\nWrite a corrected solution."
    )
    assert "SyntaxError" not in episodes.feedback[5][0] and rows[5]["public_tests"] == io("2", "4")


def test_feedback_granularity_and_truncation():
    verdict = Verdict(
        False, "Input:\n1\nExpected:\n2\nGot:\n" + "x" * 100, "Traceback\n" + "y" * 100 + "\nValueError: bad"
    )
    binary = feedback_message(verdict, EpisodeSettings(feedback_level="binary"))
    assert binary == "Your answer is wrong: it fails the public tests.\nWrite a corrected solution."
    test = feedback_message(verdict, EpisodeSettings(feedback_level="test", feedback_max_chars=30))
    assert test == "Input:\n1\nExpected:\n2\nGot:\nx...\nWrite a corrected solution."  # 30 characters
    trace = feedback_message(
        verdict,
        EpisodeSettings(feedback_level="trace", feedback_max_chars=30, feedback_template="[{message}]"),
    )
    assert trace == "[Input:\n1\nExpected:\n2\nGot:\nx...\nError:\n..." + "y" * 11 + "\nValueError: bad]"


def test_trace_feedback_from_the_sandbox(tokenizer):
    rows = [code_problems().to_list()[2]]
    (verdict,) = public_verdicts(["raise ValueError('boom')"], rows)
    message = feedback_message(verdict, EpisodeSettings(feedback_level="trace"))
    assert not verdict.passed and "(runtime_error)" in message and "ValueError: boom" in message
    assert "ValueError" not in feedback_message(verdict, EpisodeSettings(feedback_level="test"))


def test_episode_ends_cleanly_at_the_length_budget_and_context_window(tokenizer):
    rows = paired_rows()
    # room for the first answer but not for its feedback turn: the episode ends with reason `context`
    _, short, _ = episodes_for(tokenizer, rows, EpisodeSettings(max_turns=3, max_completion_length=40))
    assert short.end_reason == ["passed", "context", "context", "passed", "context", "context"]
    assert all(len(ids) <= 40 and all(mask) for ids, mask in zip(short.completion_ids, short.env_mask))
    prompt_ids, windowed, _ = episodes_for(tokenizer, rows, EpisodeSettings(max_turns=3, context_window=60))
    assert windowed.end_reason[1] == "context"
    assert all(len(p) + len(c) <= 60 for p, c in zip(prompt_ids, windowed.completion_ids))

    # a feedback turn only when min_answer_tokens remain for the next answer
    reserve = EpisodeSettings(max_turns=3, max_completion_length=150, min_answer_tokens=40)
    _, reserved, _ = episodes_for(tokenizer, rows, reserve)
    assert "context" in reserved.end_reason
    for mask in reserved.env_mask:
        starts = [j for j in range(1, len(mask)) if mask[j - 1] == 0 and mask[j] == 1]
        assert all(150 - j >= 40 for j in starts)

    class NoEos(ScriptedPolicy):
        def answer_ids(self, text):
            return self.tokenizer.encode(text + " # and more", add_special_tokens=False)

    # an answer cut at the budget (no EOS) ends the episode as TRL counts truncation
    _, cut, _ = episodes_for(
        tokenizer, rows, EpisodeSettings(max_turns=3, max_completion_length=12), NoEos(tokenizer)
    )
    assert cut.end_reason == ["truncated"] * 6 and all(len(ids) == 12 for ids in cut.completion_ids)


def test_episode_metrics_closed_form():
    passed = [[True], [False, True], [False, False, False], [False, None]]
    metrics = episode_metrics(passed, ["passed", "passed", "max_turns", "no_public_tests"], 3)
    assert (
        metrics["solve_rate/turn1"] == 1 / 4
        and metrics["solve_rate/turn2"] == metrics["solve_rate/turn3"] == 2 / 4
    )
    assert metrics["mean_turns"] == 8 / 4
    assert (
        metrics["feedback_uptake"] == 1 / 3
    )  # failures followed by a judged turn: (1,t1) ok, (2,t1), (2,t2); (3,t1) is followed by no verdict
    assert metrics["end/passed"] == 0.5 and metrics["end/context"] == 0.0
    assert "feedback_uptake" not in episode_metrics([[True], [False]], ["passed", "max_turns"], 1)


def test_episode_metrics_leave_unscorable_checks_out():
    """An episode whose public check at turn u could not run (sandbox_error) is unknown from turn u on: not in the
    solve rates of turns >= u, nor in the feedback uptake of the retry that led to it."""
    passed = [[True], [False, True], [False, None], [None], [False, False]]
    reasons = ["passed", "passed", "sandbox_error", "sandbox_error", "max_turns"]
    metrics = episode_metrics(passed, reasons, 2)
    assert metrics["solve_rate/turn1"] == 1 / 4  # episode 3 unknown at turn 1; 2 failed turn 1
    assert metrics["solve_rate/turn2"] == 2 / 3  # episodes 2 and 3 unknown at turn 2
    assert metrics["feedback_uptake"] == 1 / 2  # (1,t1) ok, (4,t1) not; (2,t1) is followed by no verdict
    assert metrics["end/sandbox_error"] == 2 / 5
    assert math.isnan(episode_metrics([[None]], ["sandbox_error"], 1)["solve_rate/turn1"])


# ---------------------------------------------------------------------------------- verifiers, reward


def test_verifier_feedback_functions():
    row = {"inputs": ["ab", "ba"], "outputs": ["xb", "bx"]}
    assert pbe.feedback("a>x", row) is None
    assert pbe.feedback("b>x", row) == "Input 'ab' should map to 'xb', but your rules give 'ax'."
    assert pbe.feedback("nothing here", row).startswith("No rule could be parsed")
    seq_row = {"sequence": [1, 2, 3, 4]}
    assert kolmogorov.feedback("output = rng(1, 5)", seq_row) is None
    assert kolmogorov.feedbacks(
        ["output = [1, 2, 9, 4]", "output = [1, 2]", "output = ("], [seq_row] * 3
    ) == [
        "Your `output` first differs at position 2: expected 3, got 9.",
        "Your `output` has 2 numbers; the sequence has 4.",
        "Your program did not run to the end or did not set `output` to a list of ints.",
    ]
    verdicts = public_verdicts(
        ["b>x", "output = rng(1, 5)"], [{"task": "pbe", **row}, {"task": "kolmogorov", **seq_row}]
    )
    assert [v.passed for v in verdicts] == [False, True] and "should map to" in verdicts[0].message
    with pytest.raises(ValueError, match="task 'puzzle' has no feedback verifier"):
        public_verdicts(["x"], [{"task": "puzzle"}])


def test_reward_uses_private_tests_only():
    reward = make_private_tests_reward(1.0, -1.0, 0.2)
    rows = code_problems().to_list()
    columns = {key: [rows[1][key]] * 4 for key in rows[1]}
    answers = ["print(2)", "print(int(input())+1)", "x = (", ""]
    (public,) = public_verdicts(["print(2)"], [rows[1]])
    assert public.passed  # passes the public test ...
    rewards = reward(None, [[{"role": "assistant", "content": a}] for a in answers], **columns)
    assert rewards == [-1.0, 1.0, -1.2, -1.2]  # ... but fails the private one: -1
    pbe_rows = {"task": ["pbe"] * 2, "inputs": [["ab"]] * 2, "outputs": [["xb"]] * 2}
    assert reward(None, ["a>x", "b>x"], **pbe_rows) == [1.0, -1.0]


# ------------------------------------------------------------------------------------------- the trainer


class RecordingTrainer(RLEFTrainer):
    """Records each batch: the episodes, the batch TRL trains on, the gathered rewards."""

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        self.records.append({"episodes": self.last_episodes, "out": out, "rewards": self._rewards})
        return out

    def _calculate_rewards(self, *args):
        self._rewards = super()._calculate_rewards(*args)
        return self._rewards


def scripted_trainer(model, args, dataset, reward_funcs=None):
    trainer = RecordingTrainer(model=model, args=args, train_dataset=dataset, reward_funcs=reward_funcs)
    trainer.records = []
    trainer._generate_single_turn = ScriptedPolicy(trainer.processing_class)
    return trainer


EXPECTED_LOG = {
    "rlef/solve_rate/turn1": 2 / 6,
    "rlef/solve_rate/turn2": 4 / 6,
    "rlef/solve_rate/turn3": 4 / 6,
    "rlef/mean_turns": 2.0,
    "rlef/feedback_uptake": 2 / 6,
    "rlef/private_solve_rate": 3 / 6,
    "rlef/end/passed": 4 / 6,
    "rlef/end/max_turns": 2 / 6,
}


def turns_reward(prompts, completions, rlef_turns, **columns) -> list[float]:
    """An extra reward function: it sees the final answer (no feedback text) and the episode's columns."""
    assert not any("Write a corrected solution" in c[0]["content"] for c in completions)
    return [float(t) for t in rlef_turns]


def test_trains_on_model_tokens_only(code_model, tmp_path):
    args = config(tmp_path, reward_weights=[1.0, 0.0])  # the extra reward is recorded, not optimised
    trainer = scripted_trainer(code_model, args, code_problems(), [turns_reward])  # one batch = 3 problems
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters()), (
        "no parameter moved"
    )
    logs = [e for e in trainer.state.log_history if "rlef/mean_turns" in e]
    assert len(logs) == 2
    for log in logs:
        assert {k: round(log[k], 6) for k in EXPECTED_LOG} == {
            k: round(v, 6) for k, v in EXPECTED_LOG.items()
        }
    for record in trainer.records:
        episodes, out = record["episodes"], record["out"]
        for i, (mask, ids) in enumerate(zip(episodes.env_mask, episodes.completion_ids)):
            assert out["tool_mask"][i, : len(mask)].tolist() == mask  # TRL's loss mask is env_mask
            assert out["completion_ids"][i, : len(ids)].tolist() == ids
            assert out["completion_mask"][i, len(ids) :].sum() == 0
        finals = [a[-1] for a in episodes.answers]
        expected = {"print(input())": 1.0, "print(2)": -1.0, "print(int(input())+1)": 1.0}
        expected.update({"print(000)": -1.0, "z = (": -1.2})
        assert record["rewards"][:, 0].tolist() == pytest.approx([expected[a] for a in finals])
        assert record["rewards"][:, 1].tolist() == [len(a) for a in episodes.answers]
        # GRPO's group baseline over whole episodes: both samples of a group share the prompt
        rewards = record["rewards"][:, 0].view(-1, 2)
        centred = (rewards - rewards.mean(1, keepdim=True)).flatten()
        assert torch.equal(
            torch.sign(out["advantages"]), torch.sign(torch.where(centred.abs() < 1e-6, 0, centred))
        )


def test_sandbox_failure_is_unscorable_not_a_failed_turn(code_model, tmp_path):
    """No sandbox reachable (the remote backend on the discard port): a public check that could not run shows no
    feedback and ends the episode (`sandbox_error`); the private reward is None, so TRL gives advantage 0, and the
    episode is left out of the private solve rate."""
    unreachable = "sandbox-fusion=http://127.0.0.1:9;max_attempts=2;backoff_s=0.01"  # fails fast
    args = config(tmp_path, max_steps=1, execution=unreachable)
    try:
        trainer = scripted_trainer(code_model, args, code_problems())
        trainer.train()
        seq_row = {"task": "kolmogorov", "sequence": [1, 2]}  # the Kolmogorov verifier: the same, not "wrong"
        assert kolmogorov.score(["output = [1, 2]"], [seq_row]) == [None]
        assert kolmogorov.answers(["output = [1, 2]"], [seq_row]) == [None]
        assert kolmogorov.feedbacks(["output = [1, 2]"], [seq_row]) == [kolmogorov.UNSCORABLE]
        assert public_verdicts(["output = [1, 2]"], [seq_row])[0].passed is None
    finally:
        backends.configure(None)
        backends.close()
    (record,) = trainer.records
    episodes = record["episodes"]
    assert episodes.end_reason == ["sandbox_error"] * 6 and episodes.feedback == [[]] * 6
    assert episodes.public_passed == [[None]] * 6
    assert torch.isnan(record["rewards"][:, 0]).all() and not record["out"]["advantages"].any()
    (log,) = [e for e in trainer.state.log_history if "rlef/frac_unscorable" in e]
    assert log["rlef/frac_unscorable"] == 1.0 and log["rlef/end/sandbox_error"] == 1.0
    assert log["rlef/private_solve_rate"] is None  # no scorable episode: unknown, not 0


def test_curriculum_counts_each_episode_by_its_final_private_reward(code_model, tmp_path):
    """RLEF composed with the CurES curriculum: one rollout per episode, a success iff the final answer passed the
    private tests (the reward the trainer optimises), whatever the turns before."""
    trainer = scripted_trainer(code_model, config(tmp_path, curriculum=True), code_problems())
    trainer.train()
    rewards = torch.cat([r["rewards"][:, 0] for r in trainer.records])
    posterior = trainer.curriculum_posterior
    assert posterior.rollouts.sum().item() == len(rewards) == 2 * 6
    threshold = trainer.args.curriculum_success_threshold
    assert posterior.successes.sum().item() == (rewards > threshold).sum().item() > 0
    assert posterior.failures.sum().item() == (rewards <= threshold).sum().item() > 0


def test_trains_with_real_generation_masks_truncation_and_resumes(code_model, tmp_path):
    common = dict(max_turns=2, feedback_level="binary", feedback_template="Wrong.", max_completion_length=24)
    common.update(save_strategy="steps", save_steps=1, per_device_train_batch_size=4, num_generations=2)
    args = config(tmp_path, max_steps=1, mask_truncated_completions=True, **common)
    first = RecordingTrainer(model=code_model, args=args, train_dataset=code_problems(4))
    first.records = []
    first.train()
    assert (tmp_path / "checkpoint-1").is_dir()
    (record,) = first.records
    episodes, out = record["episodes"], record["out"]
    assert all(len(ids) <= 24 for ids in episodes.completion_ids)
    assert set(episodes.end_reason) <= {"passed", "max_turns", "truncated", "context"}
    assert "truncated" in episodes.end_reason  # an untrained model rarely ends an answer within 24 tokens
    for i, reason in enumerate(episodes.end_reason):  # TRL drops truncated episodes from the loss
        assert (out["completion_mask"][i].sum() == 0) == (reason == "truncated")
    second = RLEFTrainer(
        model=code_model, args=config(tmp_path, max_steps=2, **common), train_dataset=code_problems(4)
    )
    second.train(resume_from_checkpoint=str(tmp_path / "checkpoint-1"))
    assert second.state.global_step == 2
    assert len([e for e in second.state.log_history if "rlef/mean_turns" in e]) == 2


@pytest.mark.slow
def test_two_processes(code_model, tmp_path):
    done = run_two_processes("rlef_ddp.py", code_model, str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert len(ranks[0]["logs"]) == len(ranks[1]["logs"]) == 2
    for log in ranks[0]["logs"] + ranks[1]["logs"]:  # the same gathered metrics on both ranks
        assert {k: round(log[k], 6) for k in EXPECTED_LOG} == {
            k: round(v, 6) for k, v in EXPECTED_LOG.items()
        }
    for step0, step1 in zip(ranks[0]["steps"], ranks[1]["steps"]):
        assert step0["rewards"] == step1["rewards"] and len(step0["rewards"]) == 6
        rewards = torch.tensor(step0["rewards"]).view(-1, 2)
        expected = rewards - rewards.mean(1, keepdim=True)
        used = torch.tensor(step0["advantages"] + step1["advantages"])
        assert torch.equal(
            torch.sign(used), torch.sign(torch.where(expected.abs() < 1e-6, 0, expected)).flatten()
        )


@pytest.mark.slow
def test_script_with_cpu_recipe(tmp_path):
    done = run_train_script(
        "rlef",
        tmp_path,
        "--max_steps",
        "1",
        "--per_device_train_batch_size",
        "2",
        "--num_generations",
        "2",
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "model.safetensors").exists()
    assert "'rlef/solve_rate/turn2'" in done.stdout + done.stderr


def test_gpu_recipe_parses():
    from trl_ext.train import make_parser

    parser = make_parser("rlef")
    recipes = sorted((ROOT / "recipes/rlef").glob("*.yaml"))
    assert len(recipes) >= 2
    for recipe in recipes:
        script_args, args, model_args = parser.parse_args_and_config(["--config", str(recipe)])
        assert args.max_turns >= 2 and script_args.dataset_name
        if "vllm" in recipe.name:
            assert args.use_vllm and args.vllm_mode == "colocate" and model_args.load_in_4bit


def test_humaneval_style_rows_without_public_tests_stay_single_turn(tokenizer):
    row = {
        "prompt": [{"role": "user", "content": "problem 0: add"}],
        "task": "code",
        "fn_name": "add",
        "starter_code": "",
        "public_tests": [],
        "private_tests": [],
        "test_code": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
    }
    answers = ["def add(a, b):\n    return a + b", "def add(a, b):\n    return a - b"]

    def generate(prompt_ids):
        return [tokenizer.encode(a) + [tokenizer.eos_token_id] for a in answers], None

    _, episodes, _ = episodes_for(tokenizer, [row, row], EpisodeSettings(max_turns=3), generate)
    assert episodes.end_reason == ["no_public_tests"] * 2 and episodes.public_passed == [[None], [None]]
    reward = make_private_tests_reward()
    columns = {key: [value] * 2 for key, value in row.items()}
    assert reward(None, [a[-1] for a in episodes.answers], **columns) == [1.0, -1.0]  # scored by test_code
