"""Tiny causal LMs built offline from a text corpus, for tests and the CPU demo.

Nothing here downloads anything: the tokenizer is trained with the `tokenizers` library on the task's own
text, the model is a small Llama-style LM initialised from a config, and both are saved with `save_pretrained` so that
TRL loads them through the normal `from_pretrained(path)` path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from huggingface_hub import ModelCard, ModelCardData
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

PAD, EOS, USER, ASSISTANT, SYSTEM = "<|pad|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|system|>"
SPECIAL_TOKENS = [PAD, EOS, USER, ASSISTANT, SYSTEM]

# One turn per role marker; the assistant turn ends with EOS so that generation stops there.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}" + SYSTEM + "{{ message['content'] }}\n"
    "{% elif message['role'] == 'user' %}" + USER + "{{ message['content'] }}\n"
    "{% else %}" + ASSISTANT + "{{ message['content'] }}" + EOS + "\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}" + ASSISTANT + "{% endif %}"
)


def _train_tokenizer(
    corpus: list[str], kind: str, vocab_size: int, special_tokens: list[str] = SPECIAL_TOKENS
) -> Tokenizer:
    if kind == "char":
        # Every character of the corpus is one token; unseen characters map to the pad-free <unk>.
        chars = sorted({ch for text in corpus for ch in text})
        vocab = {tok: i for i, tok in enumerate(special_tokens + ["<unk>"] + chars)}
        tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        tokenizer.decoder = decoders.Fuse()
    elif kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=special_tokens,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator(corpus, trainer=trainer)
    else:
        raise ValueError(f"tokenizer kind must be 'char' or 'bpe', got {kind!r}")
    tokenizer.add_special_tokens(special_tokens)
    return tokenizer


def build_tokenizer(
    corpus: Iterable[str], kind: str = "char", vocab_size: int = 512
) -> PreTrainedTokenizerFast:
    """Train a tokenizer on `corpus` and wrap it for transformers, with pad/eos tokens and a chat template."""
    corpus = list(corpus)
    if not corpus:
        raise ValueError("build_tokenizer needs a non-empty corpus")
    # The role markers and the newlines of the chat template must be encodable too.
    corpus = corpus + ["\n"]
    return PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(corpus, kind, vocab_size),
        pad_token=PAD,
        eos_token=EOS,
        unk_token="<unk>" if kind == "char" else None,
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,
        model_max_length=4096,
    )


MODEL_CARD_BODY = """
# Tiny {arch} ({n_params:,} parameters)

Built offline by `trl_ext.models.build_tiny_model`: a {kind}-level tokenizer ({vocab} tokens) trained with
the `tokenizers` library on a corpus of {n_texts} texts, and a randomly initialised {arch} causal LM
(hidden {hidden_size}, {num_hidden_layers} layers, {num_attention_heads} heads, intermediate
{intermediate_size}). It is meant for tests and CPU demos, not for real use.
"""


def build_tiny_model(
    out_dir: str | Path,
    corpus: Iterable[str],
    *,
    tokenizer_kind: str = "char",
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_hidden_layers: int = 4,
    num_attention_heads: int = 4,
    num_key_value_heads: int = 2,
    intermediate_size: int = 256,
    max_position_embeddings: int = 2048,
    seed: int = 0,
) -> Path:
    """Build a tokenizer from `corpus` and a small Llama-style causal LM; save both plus a model card to `out_dir`.

    Returns the path, loadable with `AutoTokenizer.from_pretrained` and `AutoModelForCausalLM.from_pretrained`.
    """
    import torch

    out_dir = Path(out_dir).expanduser()
    corpus = list(corpus)
    tokenizer = build_tokenizer(corpus, kind=tokenizer_kind, vocab_size=vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    _pin_tokenizer_class(out_dir)
    metadata = ModelCardData(
        license="apache-2.0",
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=["trl-ext", "tiny"],
    )
    body = MODEL_CARD_BODY.format(
        arch="Llama",
        n_params=model.num_parameters(),
        kind=tokenizer_kind,
        vocab=len(tokenizer),
        n_texts=len(corpus),
        **{k: getattr(config, k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads")},
        intermediate_size=intermediate_size,
    )
    # Written through huggingface_hub's ModelCard, as the Hub expects (YAML front matter from ModelCardData).
    ModelCard(f"---\n{metadata.to_yaml()}\n---\n{body}").save(out_dir / "README.md")
    return out_dir


def _pin_tokenizer_class(out_dir: Path) -> None:
    # transformers 5 maps a tokenizer saved next to some configs (Qwen2 always, whatever tokenizer_config says)
    # to a model-specific class that re-creates its own pre-tokenizer and silently drops the whitespace of a
    # character-level vocabulary. With a Llama config the declared generic class is honoured, and it keeps the
    # saved tokenizer.json exactly as trained.
    path = out_dir / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["tokenizer_class"] = "TokenizersBackend"
    path.write_text(json.dumps(config, indent=2) + "\n")


# Qwen2's chat format (ChatML), as its tokenizer_config.json writes it minus the default system prompt and tools.
CHATML_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# The shapes of the published Qwen2.5 checkpoints (config.json of Qwen/Qwen2.5-0.5B and -1.5B), and a tiny one
# that runs the same code on CPU. The real shapes keep Qwen's 151,936-row embedding, so parameter count, memory
# and the logits' cost match the real models; the locally trained tokenizer uses the first rows only.
QWEN2_SHAPES = {
    "tiny": dict(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=256,
    ),
    "0.5b": dict(
        hidden_size=896,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        intermediate_size=4864,
        vocab_size=151936,
    ),
    "1.5b": dict(
        hidden_size=1536,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        intermediate_size=8960,
        vocab_size=151936,
    ),
}


def build_qwen2_model(
    out_dir: str | Path, corpus: Iterable[str], shape: str = "0.5b", *, vocab_size: int = 32768, seed: int = 0
) -> Path:
    """A randomly initialised Qwen2-architecture LM of a published shape (`QWEN2_SHAPES`) with a byte-level BPE
    tokenizer of `vocab_size` tokens trained on `corpus` and Qwen's ChatML chat template, saved in bfloat16
    with a model card. For benchmarks of speed and memory (its outputs are noise), offline."""
    import torch

    if shape not in QWEN2_SHAPES:
        raise ValueError(f"unknown Qwen2 shape {shape!r}; shapes: {', '.join(QWEN2_SHAPES)}")
    out_dir = Path(out_dir).expanduser()
    corpus = [*corpus, "\n"]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(corpus, "bpe", vocab_size, CHATML_TOKENS),
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        chat_template=CHATML_TEMPLATE,
        clean_up_tokenization_spaces=False,
        model_max_length=32768,
    )
    dims = {"vocab_size": len(tokenizer), **QWEN2_SHAPES[shape]}
    config = Qwen2Config(
        **dims,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    _pin_tokenizer_class(out_dir)
    metadata = ModelCardData(
        license="apache-2.0",
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=["trl-ext", "bench"],
    )
    body = MODEL_CARD_BODY.format(
        arch=f"Qwen2 ({shape} shape, random weights)",
        n_params=model.num_parameters(),
        kind="byte (BPE)",
        vocab=len(tokenizer),
        n_texts=len(corpus),
        **{k: getattr(config, k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads")},
        intermediate_size=config.intermediate_size,
    )
    ModelCard(f"---\n{metadata.to_yaml()}\n---\n{body}").save(out_dir / "README.md")
    return out_dir
