"""The harness's memory bound (generation in bounded calls, huge runs refused up front) and the dataset revision
it records for Hub datasets (through the loopback Hub)."""

import itertools

import pytest

import hub_datasets
from trl_ext import hub
from trl_ext.eval.harness import EvalRequest, GenerationSettings, check_fits, evaluate, generation_calls


def test_generation_calls_cover_every_sample_once_within_the_bound():
    for prompts, draws, batch_size, max_sequences in itertools.product(
        (1, 3, 10), (1, 2, 7, 64), (1, 4, 8), (1, 5, 16, 256)
    ):
        settings = GenerationSettings(batch_size=batch_size, max_sequences=max_sequences)
        calls = generation_calls(prompts, draws, settings)
        drawn = [
            (p, d)
            for first, count, start, n in calls
            for p in range(first, first + count)
            for d in range(start, start + n)
        ]
        assert sorted(drawn) == [(p, d) for p in range(prompts) for d in range(draws)]  # each exactly once
        assert all(count * n <= max_sequences and count <= batch_size for _, count, _, n in calls)


def test_a_run_that_cannot_fit_is_refused_before_loading_a_model(tmp_path):
    request = EvalRequest(model=str(tmp_path / "no-model"), dataset="./x", samples=1_000_000, ks=[1])
    # 10^6 samples x (1024 + 8 x 256 tokens) bytes = 2.9 GiB; 1 GiB free, half of it the budget: 2^29 // 3072.
    with pytest.raises(
        ValueError, match=r"need about 2\.9 GiB .*\(0\.5 GiB\): use at most --samples 174762,"
    ):
        check_fits(request, problems=1, available=2**30)
    check_fits(EvalRequest(model="m", dataset="./x", samples=64), problems=200, available=2**34)
    data = str(tmp_path / "pbe")
    built = hub_datasets.build("pbe", "demo", n=1, n_test=3)
    hub.push_dataset(built.dataset, data, "demo")
    # 3 problems x 10^9 samples: refused from the dataset alone (the model folder does not even exist).
    with pytest.raises(ValueError, match="over half the available memory"):
        evaluate(
            EvalRequest(model=str(tmp_path / "no-model"), dataset=data, dataset_config="demo", samples=10**9)
        )


@pytest.fixture
def local_pbe(tmp_path):
    built = hub_datasets.build("pbe", "demo", n=1, n_test=3)
    return hub.push_dataset(built.dataset, str(tmp_path / "pbe"), "demo")


def _run(model, dataset, monkeypatch=None, **generation):
    settings = GenerationSettings(max_new_tokens=6, **generation)
    request = EvalRequest(
        model=model, dataset=dataset, dataset_config="demo", samples=6, ks=[1, 2], generation=settings
    )
    results, samples = evaluate(request, return_samples=True)
    return results["results"], [s["completion"] for s in samples]


def test_bounded_calls_give_the_same_results(tiny_model, local_pbe, monkeypatch):
    from transformers import GenerationMixin

    sizes = []
    generate = GenerationMixin.generate

    def spy(self, *args, **kwargs):
        sizes.append(kwargs["input_ids"].shape[0] * kwargs["num_return_sequences"])
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(GenerationMixin, "generate", spy)
    # Greedy: one call for everything and one sequence per call give the same completions and scores.
    whole = _run(tiny_model, local_pbe, temperature=0.0, batch_size=8, max_sequences=256)
    assert sizes == [3]
    sizes.clear()
    assert _run(tiny_model, local_pbe, temperature=0.0, batch_size=1, max_sequences=1) == whole
    assert sizes == [1, 1, 1]
    # Sampling in calls of at most 4 sequences: 6 samples of 3 problems, reproducible run to run.
    sizes.clear()
    sampled = _run(tiny_model, local_pbe, temperature=1.0, batch_size=8, max_sequences=4)
    assert max(sizes) <= 4 and sum(sizes) == 18 and len(sampled[1]) == 18
    assert _run(tiny_model, local_pbe, temperature=1.0, batch_size=8, max_sequences=4) == sampled


@pytest.mark.hub
def test_dataset_revision_is_the_dataset_repos_commit(loopback_hub, tiny_model):
    built = hub_datasets.build("pbe", "demo", n=1, n_test=2)
    hub.push_dataset(
        built.dataset, "tester/pbe", "demo", card_meta=built.card_meta, card_body=built.card_body
    )
    head = loopback_hub.state.repos[("dataset", "tester/pbe")].head().id
    request = EvalRequest(
        model=tiny_model,
        dataset="tester/pbe",
        dataset_config="demo",
        samples=1,
        generation=GenerationSettings(max_new_tokens=2),
    )
    config = evaluate(request)["config"]
    assert config["dataset_revision"] == head
    assert any(r.startswith("GET /api/datasets/tester/pbe") for r in loopback_hub.state.requests)
