"""GuideTrainer: the shaping math against its formula, which groups are guided, the hinted behaviour log-probs,
the hint-free prompt and ratio the loss sees, GRPO equivalence without hints, training (LoRA, resume, two
processes) and the script with its recipes."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cpu_grpo_args
from datasets import Dataset
from trainer_helpers import contains_a_reward, run_train_script, run_two_processes, toy_dataset
from trl import GRPOConfig, GRPOTrainer

import trl_ext.trainers.guide as guide
from trl_ext import GuideConfig, GuideTrainer
from trl_ext.trainers.guide import check_hints, guided_loss_inputs, shape_ratio, shaping_gamma

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = "{prompt} hint: {hint}"  # characters the tiny model's tokenizer knows


def config(tmp_path, **kwargs):
    base = cpu_grpo_args(tmp_path)
    base.update({k: kwargs.pop(k) for k in list(kwargs) if k in base or k in ("save_strategy", "save_steps")})
    return GuideConfig(**base, hint_template=TEMPLATE, **kwargs)


def hinted_dataset(n: int = 64) -> Dataset:
    rows = toy_dataset(n).to_list()
    return Dataset.from_list([{**r, "hint": "a" if i % 2 == 0 else None} for i, r in enumerate(rows)])


def positional_reward(prompts, completions, **kwargs) -> list[float]:
    """Rows whose prompt says 'mixed' succeed at even batch positions; every other row fails."""
    return [float("mixed" in p[-1]["content"] and i % 2 == 0) for i, p in enumerate(prompts)]


def test_shaping_matches_its_formula():
    ratios = torch.tensor([1e-4, 0.02, 0.5, 1.0, 3.0, 40.0])
    gamma = shaping_gamma(ratios, 90.0)
    assert gamma.item() == pytest.approx(float(np.percentile(ratios.numpy(), 90)), rel=1e-6)
    assert shaping_gamma(ratios, 100.0).item() == pytest.approx(40.0)
    expected = [r / (r + gamma.item()) for r in ratios.tolist()]
    assert torch.allclose(shape_ratio(ratios, gamma), torch.tensor(expected), rtol=1e-6)


@pytest.mark.parametrize("shaping", ["shape", "clip"])
def test_guided_loss_inputs_give_the_objective_gradient(shaping):
    """GRPO's clipped surrogate fed with the rewritten inputs has the gradient of Guide's objective: A·ρ/(ρ+γ)
    (unclipped) on guided tokens, or the clipped surrogate against the hinted log-probs, and GRPO's on the rest."""
    torch.manual_seed(0)
    eps = 0.2
    logps = (torch.randn(4, 5) - 2).requires_grad_()
    old = (
        logps.detach() + torch.tensor([[-6.0], [4.0], [0.1], [0.0]]) + 0.3 * torch.randn(4, 5)
    )  # ρ ≪ 1 and ≫ 1
    old[3] = float("nan")  # a row without stored old log-probs: the current ones stand in, as in GRPO
    advantages = torch.tensor([1.5, -0.7, 0.4, -1.0])
    guided = torch.tensor([True, True, False, False])
    mask = torch.ones(4, 5)
    mask[1, 3:] = 0

    def grpo_surrogate(lp, old_lp, adv):
        coef = torch.exp(lp - old_lp)
        return -torch.min(coef * adv, torch.clamp(coef, 1 - eps, 1 + eps) * adv)

    new_old, new_adv, ratios = guided_loss_inputs(logps, old, advantages, guided, mask, shaping, 90.0)
    (grpo_surrogate(logps, new_old, new_adv) * mask).sum().backward()
    got = logps.grad.clone()

    logps.grad = None
    behaviour = torch.where(torch.isnan(old), logps.detach(), old)
    ratio = torch.exp(logps - behaviour)
    assert torch.allclose(ratios, ratio.detach()[guided.view(-1, 1).expand(4, 5) & mask.bool()])
    gamma = torch.quantile(ratio.detach()[:2][mask[:2].bool()], 0.9)
    adv = advantages.view(-1, 1).expand(4, 5)
    if shaping == "shape":
        per_token = torch.where(
            guided.view(-1, 1), -adv * ratio / (ratio + gamma), grpo_surrogate(logps, behaviour, adv)
        )
    else:
        per_token = grpo_surrogate(logps, behaviour, adv)
    (per_token * mask).sum().backward()
    assert torch.allclose(got, logps.grad, atol=1e-6)
    # Row 0 (ρ ≈ e^6, A > 0) and row 1 (ρ ≈ e^-4, A < 0) lie outside the clip range: only shaping keeps a gradient.
    assert (got[:2].abs().sum(dim=1) > 0).all() if shaping == "shape" else (got[:2] == 0).all()
    assert (got[2:].abs().sum(dim=1) > 0).all()


def test_config_and_hint_errors(tmp_path):
    with pytest.raises(ValueError, match="exactly the fields"):
        GuideConfig(**cpu_grpo_args(tmp_path), hint_template="{prompt} {answer}")
    with pytest.raises(ValueError, match="guided_share"):
        GuideConfig(**cpu_grpo_args(tmp_path), guided_share=0.0)
    with pytest.raises(ValueError, match="off_policy_shaping='shape' needs"):
        GuideConfig(**cpu_grpo_args(tmp_path), importance_sampling_level="sequence")
    check_hints(["the answer is short", None], {"answer": ["17", "5"]})
    with pytest.raises(ValueError, match=r"row 1: .*'program'"):
        check_hints(["loops", "try output = [1, 2]"], {"program": ["x", "output = [1, 2]"]})
    with pytest.raises(ValueError, match="row 0"):
        check_hints(["one of 12, 13"], {"solutions": [["13"]]})


def test_hint_containing_the_answer_is_refused_at_start(tiny_model, tmp_path):
    data = Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": f"write {i}: "}] for i in range(3)],
            "answer": ["aab", "bba", "ccd"],
            "hint": ["two a's", "it is bba", None],
        }
    )
    with pytest.raises(ValueError, match="row 1: its hint contains the reference answer"):
        GuideTrainer(
            model=tiny_model, reward_funcs=contains_a_reward, args=config(tmp_path), train_dataset=data
        )


def test_dataset_without_hints_is_refused_or_warned(tiny_model, tmp_path, caplog):
    with pytest.raises(ValueError, match="no `hint` column .* would be GRPOTrainer's"):
        GuideTrainer(
            model=tiny_model,
            reward_funcs=contains_a_reward,
            args=config(tmp_path),
            train_dataset=toy_dataset(8),
        )
    empty = toy_dataset(8).add_column("hint", [""] * 4 + [None] * 4)
    with caplog.at_level("WARNING", logger="trl_ext.trainers.guide"):
        GuideTrainer(
            model=tiny_model, reward_funcs=contains_a_reward, args=config(tmp_path), train_dataset=empty
        )
    assert "every `hint` of the train dataset is empty" in caplog.text


def completion_logps(model, prompt_ids: list[int], completion_ids: list[int]) -> torch.Tensor:
    """Independent recomputation: log π(completion | prompt), token by token, one unpadded sequence."""
    ids = torch.tensor([prompt_ids + completion_ids])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].float()
    return torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(completion_ids).view(-1, 1)).flatten()


def test_guided_batch(tiny_model, tmp_path, monkeypatch):
    """One generation batch by hand: an all-fail group with a hint is regenerated from the hinted prompt, a mixed
    group and an all-fail group without hint are not; the loss sees the hint-free prompt; the stored behaviour
    log-probs are those under the hinted prompt; the loss's ratio is π_θ(o|q) / π_old(o|q ⊕ h)."""
    rows = [
        {"prompt": [{"role": "user", "content": "fail 0: "}], "hint": "aa"},
        {"prompt": [{"role": "user", "content": "mixed 1: "}], "hint": "bb"},
        {"prompt": [{"role": "user", "content": "fail 2: "}], "hint": None},
    ]
    args = config(tmp_path, per_device_train_batch_size=12, max_completion_length=6)
    trainer = GuideTrainer(
        model=tiny_model, reward_funcs=positional_reward, args=args, train_dataset=Dataset.from_list(rows * 4)
    )
    tokenizer, model = trainer.processing_class, trainer.model
    calls = []
    generate = trainer._generate_single_turn

    def recording(prompt_ids, *rest, **kwargs):
        completion_ids, logprobs = generate(prompt_ids, *rest, **kwargs)
        calls.append((prompt_ids, completion_ids))
        return completion_ids, logprobs

    monkeypatch.setattr(trainer, "_generate_single_turn", recording)
    model.train()
    out = trainer._generate_and_score_completions([row for row in rows for _ in range(4)])

    assert len(calls) == 2 and len(calls[1][0]) == 4  # one regeneration, of the one guided group
    assert all(tokenizer.decode(p).count("hint: aa") == 1 for p in calls[1][0])
    assert out["guided"].tolist() == [True] * 4 + [False] * 8
    assert trainer._metrics["train"]["guide/guided_group_share"] == [pytest.approx(1 / 3)]
    assert trainer._metrics["train"]["guide/guided_success_rate"] == [0.0]

    completions = [ids[m.bool()].tolist() for ids, m in zip(out["completion_ids"], out["completion_mask"])]
    assert completions[:4] == [list(c) for c in calls[1][1]] and completions[4:] == [
        list(c) for c in calls[0][1][4:]
    ]
    prompts = [ids[m.bool()].tolist() for ids, m in zip(out["prompt_ids"], out["prompt_mask"])]
    assert prompts == [list(p) for p in calls[0][0]]  # the hint-free prompts
    assert not any("hint" in tokenizer.decode(p) for p in prompts)

    old = out["old_per_token_logps"]
    assert torch.isnan(old[4:]).all()  # GRPO keeps no old log-probs here: the current ones stand in
    hint_free = []
    for i in range(4):
        n = len(completions[i])
        expected = completion_logps(model, list(calls[1][0][i]), completions[i])
        assert torch.allclose(old[i, :n], expected, atol=1e-5)
        hint_free.append(completion_logps(model, prompts[i], completions[i]) - expected)

    seen = []

    def spy(*a, **kw):
        result = guided_loss_inputs(*a, **kw)
        seen.append(result[2])
        return result

    monkeypatch.setattr(guide, "guided_loss_inputs", spy)
    trainer.current_gradient_accumulation_steps = 1
    loss = trainer._compute_loss(model, out)
    assert torch.isfinite(loss)
    assert torch.allclose(seen[0], torch.exp(torch.cat(hint_free)), rtol=1e-4)
    assert torch.isnan(out["old_per_token_logps"][4:]).all()  # the buffered batch is left as it was
    assert trainer._metrics["train"]["guide/importance_ratio_min"][0] == pytest.approx(seen[0].min().item())


def unscorable_reward(prompts, completions, **kwargs) -> list:
    """None (no sandbox could judge it) for rows whose prompt says 'unscorable'; 0.0 (a failure) elsewhere."""
    return [None if "unscorable" in p[-1]["content"] else 0.0 for p in prompts]


def test_unscorable_group_is_unknown_not_failed(tiny_model, tmp_path, monkeypatch):
    """A hinted group whose samples are all unscorable is not guided (an infrastructure failure is not a failed
    attempt); a hinted all-fail group is. The unscorable share and the unknown groups are logged."""
    rows = [
        {"prompt": [{"role": "user", "content": "fail 0: "}], "hint": "aa"},
        {"prompt": [{"role": "user", "content": "unscorable 1: "}], "hint": "bb"},
    ]
    args = config(tmp_path, per_device_train_batch_size=8, max_completion_length=4)
    trainer = GuideTrainer(
        model=tiny_model, reward_funcs=unscorable_reward, args=args, train_dataset=Dataset.from_list(rows * 4)
    )
    calls = []
    generate = trainer._generate_single_turn

    def recording(prompt_ids, *rest, **kwargs):
        calls.append(prompt_ids)
        return generate(prompt_ids, *rest, **kwargs)

    monkeypatch.setattr(trainer, "_generate_single_turn", recording)
    trainer.model.train()
    out = trainer._generate_and_score_completions([row for row in rows for _ in range(4)])

    assert len(calls) == 2 and len(calls[1]) == 4  # only the failed group is regenerated with its hint
    assert out["guided"].tolist() == [True] * 4 + [False] * 4
    assert out["advantages"][4:].tolist() == [0.0] * 4  # TRL: unscorable samples get advantage 0
    metrics = trainer._metrics["train"]
    assert metrics["guide/guided_group_share"] == [0.5]
    assert metrics["guide/all_fail_group_share"] == [1.0]  # of the groups with a scorable sample
    assert metrics["guide/unknown_group_share"] == [0.5]
    assert metrics["guide/frac_unscorable"] == [0.5]
    assert metrics["guide/guided_success_rate"] == [0.0]
    assert len(trainer.guided_prompts) == 1 and not trainer.solved_unhinted


def test_rows_without_hint_train_exactly_as_grpo(tiny_model, tmp_path):
    data = toy_dataset(32)
    data = data.add_column("hint", [None] * len(data))
    grpo = GRPOTrainer(
        model=tiny_model,
        reward_funcs=contains_a_reward,
        args=GRPOConfig(**cpu_grpo_args(tmp_path / "grpo")),
        train_dataset=data,
    )
    grpo.train()
    guided = GuideTrainer(
        model=tiny_model, reward_funcs=contains_a_reward, args=config(tmp_path / "guide"), train_dataset=data
    )
    guided.train()
    logs = guide_logs(guided)
    assert len(logs) == 2 and all(e["guide/guided_group_share"] == 0 for e in logs)
    assert any(e["guide/all_fail_group_share"] > 0 for e in logs)  # failed groups, but no hint: not guided
    for (name, p), q in zip(grpo.model.named_parameters(), guided.model.parameters()):
        assert torch.equal(p, q), name


def guide_logs(trainer) -> list[dict]:
    return [e for e in trainer.state.log_history if "guide/guided_group_share" in e]


def test_trains_and_resumes(tiny_model, tmp_path):
    common = dict(save_strategy="steps", save_steps=2)
    first = GuideTrainer(
        model=tiny_model,
        reward_funcs=contains_a_reward,
        args=config(tmp_path, max_steps=2, per_device_train_batch_size=8, **common),
        train_dataset=hinted_dataset(),
    )
    before = {n: p.detach().clone() for n, p in first.model.named_parameters()}
    first.train()
    assert any(not torch.equal(before[n], p) for n, p in first.model.named_parameters())
    logs = guide_logs(first)
    assert len(logs) == 2 and any(e["guide/guided_group_share"] > 0 for e in logs)
    assert any("guide/importance_ratio_mean" in e and "guide/guided_success_rate" in e for e in logs)
    state = json.loads((tmp_path / "checkpoint-2" / guide.STATE_FILE).read_text())
    assert state["guided_prompts"] == first.guided_prompts and state["guided_prompts"]

    second = GuideTrainer(
        model=tiny_model,
        reward_funcs=contains_a_reward,
        args=config(tmp_path, max_steps=3, per_device_train_batch_size=8, **common),
        train_dataset=hinted_dataset(),
    )
    second.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    assert second.state.global_step == 3
    assert set(first.guided_prompts) <= set(second.guided_prompts)
    assert first.solved_unhinted <= second.solved_unhinted


def test_lora(tiny_model, tmp_path):
    from peft import LoraConfig

    trainer = GuideTrainer(
        model=tiny_model,
        reward_funcs=contains_a_reward,
        args=config(tmp_path, per_device_train_batch_size=8, off_policy_shaping="clip"),
        train_dataset=hinted_dataset(),
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    params = dict(trainer.model.named_parameters())
    before = {n: p.detach().clone() for n, p in params.items()}
    trainer.train()
    moved = {n for n, p in params.items() if not torch.equal(before[n], p.detach())}
    assert moved and all("lora_" in n for n in moved)
    assert any(e["guide/guided_group_share"] > 0 for e in guide_logs(trainer))


@pytest.mark.slow
@pytest.mark.parametrize("batch", [8, 6])  # groups whole on each process (padded regeneration) / straddling
def test_two_processes(tiny_model, tmp_path, batch):
    done = run_two_processes("guide_ddp.py", tiny_model, str(tmp_path), str(batch))
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["checksum"] == ranks[1]["checksum"] != ranks[0]["checksum_before"]  # trained, in sync
    assert ranks[0]["guided_prompts"] == ranks[1]["guided_prompts"]
    steps = list(zip(ranks[0]["steps"], ranks[1]["steps"]))
    assert steps and any(any(s0["global_guided"]) for s0, _ in steps)
    if batch == 8:  # a step where one process has a guided group and the other pads its regeneration
        assert any(any(s0["local_guided"]) != any(s1["local_guided"]) for s0, s1 in steps)
    for s0, s1 in steps:
        assert s0["global_guided"] == s1["global_guided"] == s0["local_guided"] + s1["local_guided"]
        for step in (s0, s1):
            assert len(step["hinted"]) == sum(step["local_guided"])
            assert all(text.count("hint: a") == 1 for text in step["hinted"])


@pytest.mark.slow
def test_script_with_cpu_recipe(tmp_path):
    done = run_train_script("guide", tmp_path, "--max_steps", "2", model="tiny-pbe-guide")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "model.safetensors").exists()
    assert "'guide/guided_group_share'" in done.stdout + done.stderr
    assert "2506.13923" in (tmp_path / "out" / "README.md").read_text()


def test_gpu_recipe_parses():
    from trl_ext.train import make_parser

    for recipe in sorted((ROOT / "recipes/guide").glob("*.yaml")):
        cpu = (
            [] if torch.cuda.is_available() else ["--bf16", "false", "--use_cpu", "true"]
        )  # parse GPU recipes here
        script_args, args, model_args = make_parser("guide").parse_args_and_config(
            ["--config", str(recipe), *cpu]
        )
        assert isinstance(args, GuideConfig) and args.off_policy_shaping == "shape"
        assert "{hint}" in args.hint_template and script_args.dataset_name
        if "vllm" in recipe.name:
            assert args.use_vllm and args.vllm_mode == "colocate" and model_args.load_in_4bit
