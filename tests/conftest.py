import os
import sys
from pathlib import Path

# Offline by default: nothing in the suite may reach the real Hub. Set before any HF library is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

from hub_server import LoopbackHub  # noqa: E402


@pytest.fixture
def loopback_hub(monkeypatch, tmp_path):
    """A Hub-protocol server on 127.0.0.1, with the already-imported clients pointed at it (online, a token,
    a private cache). Yields the server; `.state` shows the repos and the requests it received."""
    import datasets.config
    import huggingface_hub.constants as hf_constants
    import huggingface_hub.hf_api

    hub = LoopbackHub().start()
    endpoint = hub.endpoint
    monkeypatch.setattr(hf_constants, "ENDPOINT", endpoint)
    # huggingface_hub's module-level helpers (metadata_update, RepoCard.push_to_hub) use an HfApi made at import
    monkeypatch.setattr(huggingface_hub.hf_api.api, "endpoint", endpoint)
    monkeypatch.setattr(
        hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", endpoint)
    monkeypatch.setattr(
        datasets.config, "HUB_DATASETS_URL", endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}"
    )
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_loopback_test_token")
    try:
        yield hub
    finally:
        hub.stop()


TOY_CORPUS = ["abcdef ghij\n", "count the a's: aaa\n", "0123456789 +-*/=()[]{}<>,.:;'\"_\n"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """A tiny character-level model built once per test session."""
    from trl_ext.models import build_tiny_model

    return str(
        build_tiny_model(
            tmp_path_factory.mktemp("tiny") / "model",
            TOY_CORPUS,
            hidden_size=32,
            num_hidden_layers=2,
            intermediate_size=64,
        )
    )


def cpu_grpo_args(output_dir, **overrides) -> dict:
    """The GRPOConfig settings every trainer test uses on CPU (no bf16, no checkpointing, a usable lr)."""
    args = dict(
        output_dir=str(output_dir),
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        learning_rate=1e-2,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=2,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        dataloader_num_workers=0,
    )
    args.update(overrides)
    return args
