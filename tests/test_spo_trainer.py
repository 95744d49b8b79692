"""SPOTrainer in the real stack: config errors, training on fresh + replayed + offline rows with the loss SPO's math
gives, the V̂₀ cache against its reference samples, offline-only training, resume with the buffer and cache, two
processes, LoRA (π_ref = the adapter-disabled base), QLoRA, and the script with its CPU recipe."""

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import cpu_grpo_args
from datasets import Dataset
from trainer_helpers import contains_a_reward, run_train_script, run_two_processes, toy_dataset

from trl_ext import SPOConfig, SPOTrainer
from trl_ext.objectives import spo_loss, spo_soft_value, spo_terminal_q
from trl_ext.trainers.spo import prompt_key

ROOT = Path(__file__).resolve().parents[1]


def config(tmp_path, **kwargs):
    base = cpu_grpo_args(tmp_path, max_completion_length=6)
    base.update({k: kwargs.pop(k) for k in list(kwargs) if k in base or k in ("save_strategy", "save_steps")})
    return SPOConfig(**base, **{"value_samples": 4, **kwargs})


def offline_pairs(n: int = 14) -> Dataset:
    """(prompt, completion) pairs on the toy prompts: half contain an 'a' (reward 1), half do not."""
    return Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": f"write {i % 7}: "}] for i in range(n)],
            "completion": [[{"role": "assistant", "content": "aa" if i % 2 else "bc"}] for i in range(n)],
        }
    )


def test_config_errors(tmp_path, tiny_model):
    with pytest.raises(ValueError, match="KL coefficient beta must be 0"):
        config(tmp_path, beta=0.04)
    with pytest.raises(ValueError, match="spo_beta must be positive"):
        config(tmp_path, spo_beta=0.0)
    with pytest.raises(ValueError, match="off_policy_ratio and offline_share must be in"):
        config(tmp_path, off_policy_ratio=1.5)
    with pytest.raises(ValueError, match="value_samples must be >= 0"):
        config(tmp_path, value_samples=-1)
    with pytest.raises(ValueError, match="supported on-policy only"):
        config(tmp_path, value_samples=0, off_policy_ratio=0.5, replay_buffer_size=8)
    with pytest.raises(ValueError, match="spo_loss_type must be one of"):
        config(tmp_path, spo_loss_type="ce")
    with pytest.raises(ValueError, match="needs a replay buffer"):
        SPOTrainer(tiny_model, contains_a_reward, config(tmp_path, off_policy_ratio=0.5), toy_dataset())
    with pytest.raises(ValueError, match="offline pairs need the columns \\['completion'\\]"):
        SPOTrainer(
            tiny_model,
            contains_a_reward,
            config(tmp_path, off_policy_ratio=0.5),
            toy_dataset(),
            offline_dataset=toy_dataset(),
        )


class Recording(SPOTrainer):
    """Keeps every batch and the reference samples' rewards it was built from."""

    batches: list = []

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        self.batches.append(({k: v for k, v in out.items()}, [x["prompt"] for x in inputs]))
        return out


def test_trains_on_fresh_replayed_and_offline_rows(tiny_model, tmp_path):
    Recording.batches = []
    args = config(tmp_path, max_steps=3, off_policy_ratio=0.5, replay_buffer_size=16, offline_share=0.5)
    trainer = Recording(tiny_model, contains_a_reward, args, toy_dataset(), offline_dataset=offline_pairs())
    assert trainer.ref_model is not None and trainer.beta == 0.0  # π_ref present, TRL's KL term off
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    assert any(not torch.equal(before[n], p) for n, p in trainer.model.named_parameters()), (
        "no parameter moved"
    )

    logs = [e for e in trainer.state.log_history if "spo/calibration_gap" in e]
    assert len(logs) == 3
    for key in ("spo/kl_ref", "spo/v0", "spo/off_policy_share", "entropy", "spo/reference_reward"):
        assert key in logs[0]
    assert [e["spo/off_policy_share"] for e in logs] == [
        0.5,
        0.5,
        0.5,
    ]  # 4 fresh + 4 off-policy rows per step
    assert len(trainer._replay) == 12  # 3 steps x 4 fresh samples (none unscorable)

    for out, prompts in Recording.batches:
        assert out["completion_ids"].shape[0] == 8 and "advantages" not in out
        fresh = out["spo_fresh"].bool()
        assert fresh.sum() == 4 and out["spo_in_loss"].all()
        # V̂₀ of the fresh rows: the soft value of the cached reference rewards (K = 4 samples of π_ref each)
        for prompt, v0 in zip(prompts, out["spo_v0"][:4].tolist()):
            samples = trainer._values[prompt_key(prompt)]["rewards"]
            assert len(samples) == 4
            assert v0 == pytest.approx(
                spo_soft_value(torch.tensor([samples]), args.spo_beta).item(), abs=1e-6
            )
        # offline rows keep their scored reward: 'aa' → 1, 'bc' → 0
        for ids, mask, reward in zip(
            out["completion_ids"][4:], out["completion_mask"][4:], out["spo_rewards"][4:]
        ):
            text = trainer.processing_class.decode(ids[mask.bool()], skip_special_tokens=True)
            assert reward.item() == float("a" in text)

    # the π_ref log-probs are those of the untouched initial model, and the loss is spo_loss of spo_terminal_q
    out, _ = Recording.batches[-1]
    initial = SPOTrainer(tiny_model, contains_a_reward, config(tmp_path / "initial"), toy_dataset())
    ids = torch.cat([out["prompt_ids"], out["completion_ids"]], 1)
    mask = torch.cat([out["prompt_mask"], out["completion_mask"]], 1)
    with torch.no_grad():
        ref, _, _ = initial._get_per_token_logps_and_entropies(
            initial.model, ids, mask, out["completion_ids"].shape[1]
        )
        policy, _, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model, ids, mask, out["completion_ids"].shape[1]
        )
        trainer.model.eval()  # no gradient-accumulation scaling
        loss = trainer._compute_loss(trainer.model, out)
    cm = out["completion_mask"]
    assert torch.allclose(out["ref_per_token_logps"] * cm, ref * cm, atol=1e-5)
    q = spo_terminal_q(policy, ref, cm, out["spo_v0"], args.spo_beta)
    assert loss.item() == pytest.approx(spo_loss(q, out["spo_rewards"]).item(), rel=1e-4)


def test_offline_only_measures_fresh_rows(tiny_model, tmp_path):
    Recording.batches = []
    args = config(tmp_path, max_steps=1, off_policy_ratio=1.0)
    trainer = Recording(tiny_model, contains_a_reward, args, toy_dataset(), offline_dataset=offline_pairs())
    trainer.train()
    out, _ = Recording.batches[0]
    assert out["spo_in_loss"].tolist() == [0.0] * 4 + [1.0] * 4 and out["spo_fresh"].sum() == 4
    assert trainer.state.log_history[0]["spo/off_policy_share"] == 1.0


def unscorable_reward(prompts, completions, **kwargs) -> list:
    """None (no sandbox could judge it) on the prompt 'write 0' and for completions with a 'b'; else contains-'a'."""
    return [
        None if "write 0" in p[-1]["content"] or "b" in c[-1]["content"] else float("a" in c[-1]["content"])
        for p, c in zip(prompts, completions)
    ]


def test_unscorable_samples_stay_out_of_values_and_loss(tiny_model, tmp_path):
    """An unscorable reference sample is not a 0 in V̂₀ (a prompt with none scorable has no V̂₀ and its rows stay
    out of the loss); unscorable fresh samples and offline pairs stay out of the loss, which stays finite."""
    Recording.batches = []
    args = config(tmp_path, per_device_train_batch_size=8, off_policy_ratio=0.5, offline_share=1.0)
    dataset = Dataset.from_dict({"prompt": [[{"role": "user", "content": f"write {i}: "}] for i in range(2)]})
    trainer = Recording(tiny_model, unscorable_reward, args, dataset, offline_dataset=offline_pairs(4))
    trainer.train()
    assert prompt_key([{"role": "user", "content": "write 0: "}]) not in trainer._values
    assert all(entry["rewards"] and set(entry["rewards"]) <= {0.0, 1.0} for entry in trainer._values.values())
    decode = trainer.processing_class.decode
    for out, _ in Recording.batches:
        prompts = [decode(ids[m.bool()]) for ids, m in zip(out["prompt_ids"], out["prompt_mask"])]
        texts = [decode(ids[m.bool()]) for ids, m in zip(out["completion_ids"], out["completion_mask"])]
        expected = [
            float("ite 0:" not in p and "b" not in t) for p, t in zip(prompts, texts)
        ]  # 'wr' is <unk>
        assert out["spo_in_loss"].tolist() == expected and torch.isfinite(out["spo_rewards"]).all()
    logs = [e for e in trainer.state.log_history if "spo/frac_unscorable" in e]
    assert len(logs) == 2 and all(e["spo/frac_unscorable"] >= 0.5 for e in logs)  # 'write 0': half the rows
    assert logs[0]["spo/reference_frac_unscorable"] >= 0.5
    assert all(math.isfinite(e["loss"]) for e in trainer.state.log_history if "loss" in e)


def test_reference_samples_ignore_the_checkpoints_generation_config(tiny_model, tmp_path, monkeypatch):
    """transformers fills every sampling field left unset from the checkpoint's generation_config.json: π_ref's
    samples must not get its repetition penalty, n-gram ban, min-p, suppressed tokens or top-k."""
    import shutil

    from transformers import GenerationConfig
    from transformers.generation.utils import GenerationMixin

    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_model, checkpoint)
    GenerationConfig(  # as Qwen2.5 instruct checkpoints do (repetition_penalty 1.05, top_k 20, ...), but more
        do_sample=True,
        repetition_penalty=5.0,
        no_repeat_ngram_size=1,
        min_p=0.5,
        top_k=3,
        typical_p=0.5,
        suppress_tokens=[5],
    ).save_pretrained(checkpoint)
    trainer = SPOTrainer(str(checkpoint), contains_a_reward, config(tmp_path), toy_dataset())
    assert trainer.ref_model.generation_config.repetition_penalty == 5.0  # the checkpoint's config is loaded
    used = []
    original = GenerationMixin._get_logits_processor

    def recording(self, generation_config, *args, **kwargs):
        processors = original(self, generation_config, *args, **kwargs)
        used.append([type(p).__name__ for p in processors])
        return processors

    monkeypatch.setattr(GenerationMixin, "_get_logits_processor", recording)
    prompt_ids = trainer._tokenize_prompts([toy_dataset(1)[0]["prompt"]])[0]
    completions = trainer._sample_reference(prompt_ids * 4)
    assert len(completions) == 4 and used
    # temperature 1 (the config's): no processor may reshape π_ref's distribution
    assert all(names == [] for names in used), used
    assert trainer.ref_model.generation_config.repetition_penalty == 5.0  # restored after sampling


def test_on_policy_without_reference_samples(tiny_model, tmp_path):
    """value_samples 0: V̂₀ = 0 for every prompt, π_ref never sampled, and the loss is SPO's with that baseline."""
    Recording.batches = []
    trainer = Recording(tiny_model, contains_a_reward, config(tmp_path, value_samples=0), toy_dataset())
    trainer._sample_reference = lambda prompt_ids: pytest.fail("π_ref sampled with value_samples 0")
    trainer.train()
    assert trainer._values == {} and len(Recording.batches) == 2
    for out, _ in Recording.batches:
        assert out["spo_v0"].tolist() == [0.0] * 4
    logs = [e for e in trainer.state.log_history if "spo/v0" in e]
    assert logs and all(e["spo/v0"] == 0.0 and "spo/reference_reward" not in e for e in logs)


def test_value_refresh_pools_reference_samples(tiny_model, tmp_path):
    dataset = Dataset.from_dict({"prompt": [[{"role": "user", "content": "write 1: "}]] * 16})
    trainer = SPOTrainer(
        tiny_model, contains_a_reward, config(tmp_path, max_steps=3, value_refresh_steps=1), dataset
    )
    trainer.train()
    (entry,) = trainer._values.values()
    assert len(entry["rewards"]) == 3 * 4 and entry["step"] == 2  # K more samples at steps 0, 1, 2


def test_resume_restores_buffer_and_cache(tiny_model, tmp_path):
    common = dict(off_policy_ratio=0.5, replay_buffer_size=32, save_strategy="steps", save_steps=2)
    first = SPOTrainer(
        tiny_model,
        contains_a_reward,
        config(tmp_path, max_steps=2, **common),
        toy_dataset(),
        offline_dataset=offline_pairs(),
    )
    first.train()
    saved = json.loads((tmp_path / "checkpoint-2" / "spo_state.json").read_text())
    assert saved["replay"] and saved["values"] and saved["offline_rewards"]

    class Snapshot(SPOTrainer):
        def _load_optimizer_and_scheduler(self, checkpoint):
            super()._load_optimizer_and_scheduler(checkpoint)
            self.restored = self._spo_state()

    second = Snapshot(
        tiny_model,
        contains_a_reward,
        config(tmp_path, max_steps=3, **common),
        toy_dataset(),
        offline_dataset=offline_pairs(),
    )
    second.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    assert second.restored == json.loads(json.dumps(first._spo_state()))
    assert second.state.global_step == 3 and len(second._replay) == len(first._replay) + 4


def test_lora_reference_is_the_base_model(tiny_model, tmp_path):
    from peft import LoraConfig

    trainer = SPOTrainer(
        tiny_model,
        contains_a_reward,
        config(tmp_path, off_policy_ratio=0.5, replay_buffer_size=8),
        toy_dataset(),
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    assert trainer.ref_model is None  # no second copy: the adapter-disabled base is π_ref
    params = dict(trainer.model.named_parameters())
    before = {n: p.detach().clone() for n, p in params.items()}
    trainer.train()
    moved = {n for n, p in params.items() if not torch.equal(before[n], p.detach())}
    assert moved and all("lora_" in n for n in moved)
    logs = [e for e in trainer.state.log_history if "spo/kl_ref" in e]
    assert logs and abs(logs[0]["spo/kl_ref"]) < 1e-4  # step 1: adapter B = 0, the policy is π_ref


@pytest.mark.slow
def test_qlora_4bit(tiny_model, tmp_path):
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig

    trainer = SPOTrainer(
        tiny_model,
        contains_a_reward,
        config(tmp_path, off_policy_ratio=0.5),
        toy_dataset(),
        offline_dataset=offline_pairs(),
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
        quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.float32, bnb_4bit_quant_type="nf4"
        ),
    )
    assert (
        any(type(m).__name__ == "Linear4bit" for m in trainer.model.modules()) and trainer.ref_model is None
    )
    params = {n: p for n, p in trainer.model.named_parameters() if p.requires_grad}
    before = {n: p.detach().clone() for n, p in params.items()}
    trainer.train()
    assert any(not torch.equal(before[n], p.detach()) for n, p in params.items())


@pytest.mark.slow
def test_two_processes_share_buffer_and_cache(tiny_model, tmp_path):
    done = run_two_processes("spo_ddp.py", tiny_model, str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == 2 and ranks[0]["state"] == ranks[1]["state"]
    state = ranks[0]["state"]
    fresh = [row for r in ranks for step in r["fresh"] for row in step]  # every rank's fresh rows, both steps
    assert len(state["replay"]) == len(fresh) == 2 * 2 * 4
    assert sorted(map(json.dumps, state["replay"])) == sorted(map(json.dumps, fresh))
    for r in ranks:  # each rank's V̂₀ of its own rows is the soft value of the shared cache
        for prompt, v0 in r["v0"]:
            samples = state["values"][prompt]["rewards"]
            assert v0 == pytest.approx(spo_soft_value(torch.tensor([samples]), 0.2).item(), abs=1e-5)
    saved = json.loads((tmp_path / "run" / "checkpoint-2" / "spo_state.json").read_text())
    assert saved == state


@pytest.mark.slow
def test_script_with_cpu_recipe(tmp_path):
    done = run_train_script("spo", tmp_path, "--max_steps", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "model.safetensors").exists()
    assert (
        "'spo/calibration_gap'" in done.stdout + done.stderr
        and "'spo/off_policy_share': '0.5'" in done.stdout
    )


def test_gpu_recipe_parses():
    from trl_ext.train import make_parser

    parser = make_parser("spo")
    for recipe in sorted((ROOT / "recipes/spo").glob("*.yaml")):
        script_args, args, model_args = parser.parse_args_and_config(["--config", str(recipe)])
        assert args.off_policy_ratio > 0 and script_args.dataset_name
        if "qlora" in recipe.name:
            assert (
                model_args.load_in_4bit
                and model_args.use_peft
                and args.use_vllm
                and args.vllm_mode == "colocate"
            )
