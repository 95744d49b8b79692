"""Loading a model to evaluate, at one of `trl_ext.hub.PRECISIONS` (the harness and the multi-turn evaluation
share it)."""

from __future__ import annotations

from trl_ext.hub import PRECISIONS


def load_model(model: str, revision: str | None = None, precision: str = "float32"):
    """(model in eval mode, tokenizer padding on the left) from a Hub id or a local folder; 4-bit through
    bitsandbytes; on the GPU when there is one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    kwargs = {"revision": revision}
    if precision == "4bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16
        )
    else:
        kwargs["dtype"] = getattr(torch, precision)
    tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
    tokenizer.padding_side = "left"
    loaded = AutoModelForCausalLM.from_pretrained(model, **kwargs)
    if torch.cuda.is_available() and precision != "4bit":
        loaded = loaded.to("cuda")
    return loaded.eval(), tokenizer
