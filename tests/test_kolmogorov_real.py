"""KoLMogorov-Test on real data (`hub_datasets.kolmogorov_real`): offline sources, windows, splits, card; and the
compression rate the harness and the leaderboard report next to accuracy."""

from __future__ import annotations

import gzip

import pytest
from datasets import Dataset

import hub_datasets
from hub_datasets import kolmogorov_real
from trl_ext.eval.harness import compression_rate, score
from trl_ext.rewards.kolmogorov import sequence_text


@pytest.fixture(scope="module", params=["audio", "text", "dna"])
def built(request):
    return request.param, hub_datasets.build("kolmogorov-real", request.param, n=30, n_test=10, seed=0)


def test_windows_of_the_source_in_disjoint_splits(built):
    config, b = built
    data = kolmogorov_real.load_source(config)
    train, test = b.dataset["train"].to_list(), b.dataset["test"].to_list()
    assert (len(train), len(test)) == (30, 10)
    for row in train + test:
        assert row["task"] == "kolmogorov" and row["modality"] == config
        assert len(row["sequence"]) in (16, 32, 64, 128)
        assert row["sequence"] == list(data[row["offset"] : row["offset"] + len(row["sequence"])])
        assert str(row["sequence"]) in row["prompt"][0]["content"]
        assert row["gzip_bits"] == 8 * len(gzip.compress(sequence_text(row["sequence"]), mtime=0))
    # Train windows end before the test part of the source begins.
    assert max(r["offset"] + len(r["sequence"]) for r in train) <= min(r["offset"] for r in test)
    assert kolmogorov_real.SOURCES[config]["paper"] in b.card_body
    assert kolmogorov_real.SOURCES[config]["license"] in b.card_body


def test_sources_are_the_real_data():
    dna = kolmogorov_real.load_source("dna")
    assert len(dna) == 9609 and dna[:5] == (3, 2, 3, 0, 0)  # NC_005816.1 starts TGTAA
    text = bytes(kolmogorov_real.load_source("text")).decode()
    assert 'The "if" statement' in text or "if_stmt" in text
    audio = kolmogorov_real.load_source("audio")
    assert len(audio) == 53248 and 0 <= min(audio) and max(audio) <= 255  # 159744 samples at 48 kHz → 16 kHz
    assert len(set(audio)) > 50  # a recording, not silence


def test_knobs_and_errors():
    b = hub_datasets.build("kolmogorov-real", "dna", n=5, n_test=2, overrides={"length": "32-63"})
    assert {len(r["sequence"]) for r in b.dataset["train"]} == {32}
    with pytest.raises(ValueError, match="holds no power of two"):
        hub_datasets.build("kolmogorov-real", "dna", n=5, n_test=2, overrides={"length": "33-63"})
    with pytest.raises(ValueError, match="too short"):
        hub_datasets.build("kolmogorov-real", "dna", n=5, n_test=2, overrides={"length": "4096-4096"})


def test_compression_rate_and_accuracy_in_the_harness_and_leaderboard():
    from trl_ext.leaderboard.app import display_frame, leaderboard_frame
    from trl_ext.leaderboard.settings import Benchmark, Settings

    rows = hub_datasets.build("kolmogorov-real", "dna", n=0, n_test=2, seed=1).dataset["test"].to_list()
    literal = [f"```python\n{r['program']}```" for r in rows]
    wrong = "```python\noutput = [0]\n```"
    completions = [[literal[0], wrong], [literal[1], wrong]]
    metrics, _, _ = score(Dataset.from_list(rows), completions, ks=[1])
    assert metrics["pass@1"] == 0.5  # accuracy
    # The paper's rate: total bits of the programs (gzip of the sequence for a failed one) / total sequence bits.
    raw = [8 * len(sequence_text(r["sequence"])) for r in rows]
    bits = [8 * len(r["program"].encode()) + r["gzip_bits"] for r in rows]
    assert metrics["compression_rate"] == pytest.approx(sum(bits) / (2 * sum(raw)))
    assert compression_rate([literal[0]], rows[:1]) > 1  # a literal list is longer than the sequence text
    benchmark = Benchmark(dataset="org/kt", config="dna", samples=2, ks=[1])
    results = {
        "config": {"model": "org/m", "revision": "main", "precision": "float32"},
        "results": {benchmark.name: metrics},
        "benchmarks": {benchmark.name: vars(benchmark)},
    }
    settings = Settings(requests="./requests", results="./results", benchmarks=[benchmark])
    shown = display_frame(leaderboard_frame(settings, [results]))
    assert {"org/kt/dna pass@1 (% ± SE)", "org/kt/dna compression_rate (% ± SE)"} <= set(shown.columns)
