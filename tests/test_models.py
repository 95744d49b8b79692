"""Tiny offline models: the tokenizer round-trips the task's text and TRL-style loading works."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoProcessor, AutoTokenizer

from trl_ext.models import build_tiny_model

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "replace('ab', 'c')\n\tindent  two  spaces\n",
    "x = [1, 2, 3]\nprint(sum(x))\n",
]


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_tiny_model_round_trip(tmp_path, kind):
    path = build_tiny_model(tmp_path / kind, CORPUS, tokenizer_kind=kind)
    tokenizer = AutoTokenizer.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    for text in CORPUS:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text  # spaces, tabs and newlines included
        assert processor.decode(processor(text, add_special_tokens=False)["input_ids"]) == text
    assert tokenizer.pad_token == "<|pad|>" and tokenizer.eos_token == "<|eos|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id

    messages = [{"role": "user", "content": CORPUS[0]}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|assistant|>") and CORPUS[0] in prompt
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": "ok"}], tokenize=False)
    assert full.startswith(prompt) and "ok<|eos|>" in full

    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.vocab_size == len(tokenizer)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    out = model.generate(**ids, max_new_tokens=5, do_sample=True, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] <= ids["input_ids"].shape[1] + 5
    card = (path / "README.md").read_text()
    from huggingface_hub import ModelCard

    assert ModelCard(card).data.license == "apache-2.0" and "build_tiny_model" in card


def test_tiny_model_is_deterministic(tmp_path):
    a = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "a", CORPUS, seed=3))
    b = AutoModelForCausalLM.from_pretrained(build_tiny_model(tmp_path / "b", CORPUS, seed=3))
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
