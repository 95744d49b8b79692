"""KoLMogorov-Test on real data (arXiv 2503.13992): write the shortest program that outputs a sequence cut from real
audio, text or DNA. `task = "kolmogorov"`, the same verifier and row columns as the synthetic `kolmogorov` configs.

The paper's real modalities are audio (LibriSpeech), text (enwik9) and DNA (GRCh38). These configs take the same
kinds of data from sources that install offline with this package's dependencies:

- `audio`: `recording1.wav`, a voice recording among the media assets of the `gradio` package (48 kHz, 16-bit,
  stereo), mixed to mono, resampled to 16 kHz (LibriSpeech's rate) and quantised to 8 bits (values 0–255);
- `text`: the UTF-8 bytes (values 0–255) of the Python documentation's topic texts that CPython ships as
  `pydoc_data.topics` (the paper's enwik9 is Wikipedia text);
- `dna`: the complete sequence of the Yersinia pestis plasmid pPCP1 (NCBI RefSeq NC_005816.1, 9,609 bases), from
  Biopython's test data, shipped here (`hub_datasets/data/`) with Biopython's license; bases A, C, G, T as 0–3.

Each row is a window of the source of one of the configured lengths (powers of two from `length`: 16, 32, 64, 128
by default), at a random offset. The train and test windows come from disjoint parts of the source (test: its last
`n_test / (n + n_test)`), so no test sequence overlaps a training one. The reference `program` is the literal list
(real data has no generating program): it passes, and compresses nothing.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hub_datasets.base import Built, card, check_range, markdown_table, unique_splits
from hub_datasets.kolmogorov import INSTRUCTIONS
from trl_ext.rewards import kolmogorov as verifier

DATA = Path(__file__).resolve().parent / "data"
SOURCES = {
    "audio": {
        "what": "`gradio/media_assets/audio/recording1.wav` from the `gradio` package (mono, 16 kHz, 8-bit)",
        "license": "apache-2.0 (the gradio package's license)",
        "hub_license": ("apache-2.0", None),
        "paper": "LibriSpeech",
    },
    "text": {
        "what": "`pydoc_data.topics` of the CPython standard library (the Python documentation's topic texts), UTF-8 "
        "bytes",
        "license": "PSF-2.0 (the Python documentation)",
        "hub_license": ("other", "psf-2.0"),
        "paper": "enwik9",
    },
    "dna": {
        "what": "Yersinia pestis biovar Microtus str. 91001 plasmid pPCP1, NCBI RefSeq NC_005816.1, from Biopython's "
        "test data (`Tests/GenBank/NC_005816.fna`); A, C, G, T → 0, 1, 2, 3",
        "license": "Biopython License Agreement / BSD-3-Clause (`hub_datasets/data/NC_005816.LICENSE.rst`); the "
        "sequence is NCBI RefSeq data",
        "hub_license": ("other", "biopython-license-agreement"),
        "paper": "GRCh38",
    },
}


@dataclass(frozen=True)
class RealConfig:
    source: str = "dna"  # audio, text or dna
    length: tuple[int, int] = (16, 128)  # window lengths: the powers of two in this range

    def validate(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"knob 'source' must be one of {', '.join(SOURCES)}, got {self.source!r}")
        check_range("length", self.length, 1, 4096)
        if not self.lengths():
            raise ValueError(f"knob 'length' {self.length[0]}-{self.length[1]} holds no power of two")

    def lengths(self) -> list[int]:
        return [2**e for e in range(13) if self.length[0] <= 2**e <= self.length[1]]


CONFIGS = {name: RealConfig(source=name) for name in SOURCES}
DEFAULT_SIZE = {name: (1000, 200) for name in SOURCES}


@cache
def load_source(name: str) -> tuple[int, ...]:
    """The whole source sequence of config `name`, as ints."""
    if name == "dna":
        lines = (DATA / "NC_005816.fna").read_text().splitlines()
        bases = "".join(line.strip() for line in lines if not line.startswith(">")).upper()
        return tuple("ACGT".index(b) for b in bases if b in "ACGT")
    if name == "text":
        from pydoc_data.topics import topics

        return tuple("\n\n".join(topics[key] for key in sorted(topics)).encode())
    if name == "audio":
        return _audio()
    raise ValueError(f"unknown source {name!r}; sources: {', '.join(SOURCES)}")


def _audio() -> tuple[int, ...]:
    import numpy as np
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    spec = importlib.util.find_spec("gradio")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "the audio config reads a recording that the gradio package ships: pip install 'trl-ext[space]'"
        )
    path = Path(spec.submodule_search_locations[0]) / "media_assets" / "audio" / "recording1.wav"
    rate, samples = wavfile.read(path)
    mono = samples.astype(np.float64).mean(axis=1) if samples.ndim == 2 else samples.astype(np.float64)
    resampled = resample_poly(mono, 16_000, rate)
    quantised = np.clip(np.round(resampled / 256 + 128), 0, 255).astype(int)
    return tuple(quantised.tolist())


def make_row(sequence: list[int], source: str, offset: int) -> dict:
    program = f"output = {sequence}\n"
    return {
        "prompt": [{"role": "user", "content": INSTRUCTIONS + str(sequence)}],
        "task": "kolmogorov",
        "sequence": sequence,
        "program": program,
        "num_ops": 0,
        "program_bits": 8.0 * len(program.encode()),
        "gzip_bits": verifier.gzip_bits(sequence),
        "raw_bits": 8 * len(verifier.sequence_text(sequence)),
        "hint": f"A window of real {source} data: no generating program is known.",
        "modality": source,
        "offset": offset,
    }


def generate(config: RealConfig, n: int, n_test: int, seed: int) -> tuple[list[dict], list[dict]]:
    config.validate()
    data = load_source(config.source)
    lengths = config.lengths()
    cut = len(data) - round(len(data) * n_test / (n + n_test)) if n + n_test else len(data)
    if (n and cut < max(lengths)) or (n_test and len(data) - cut < max(lengths)):
        raise ValueError(
            f"the {config.source} source ({len(data)} values) is too short for windows of {max(lengths)}"
        )

    def window(rng: random.Random, lo: int, hi: int) -> dict:
        length = rng.choice(lengths)
        offset = rng.randrange(lo, hi - length + 1)
        return make_row(list(data[offset : offset + length]), config.source, offset)

    def key(row: dict) -> tuple:
        return tuple(row["sequence"])

    desc = f"kolmogorov-real/{config.source}"
    train = unique_splits(lambda rng, i: window(rng, 0, cut), key, n, 0, seed, desc)[0] if n else []
    test = (
        unique_splits(lambda rng, i: window(rng, cut, len(data)), key, n_test, 0, seed + 1, desc)[0]
        if n_test
        else []
    )
    return train, test


def build(config_name: str, config: RealConfig, n: int, n_test: int, seed: int) -> Built:
    from datasets import Dataset, DatasetDict

    train, test = generate(config, n, n_test, seed)
    rows = train + test
    source = SOURCES[config.source]
    sizes = markdown_table(
        ["config", "source values", "lengths", "rows", "mean gzip rate"],
        [
            [
                config_name,
                len(load_source(config.source)),
                ", ".join(map(str, config.lengths())),
                len(rows),
                f"{sum(r['gzip_bits'] / r['raw_bits'] for r in rows) / len(rows):.3f}",
            ]
        ],
    )
    sources = markdown_table(
        ["config", "source", "license", "the paper's modality"],
        [[name, s["what"], s["license"], s["paper"]] for name, s in SOURCES.items()],
    )
    meta, body = card(
        pretty_name=f"Kolmogorov sequences from real {config.source} data",
        n_rows=len(rows),
        summary="Program synthesis as compression on real data, after the KoLMogorov-Test (arXiv 2503.13992): "
        "produce a window of real data with a short program.",
        sections={
            "Source and license": f"This config: {source['what']}. License: {source['license']}. Built with Python "
            f"{sys.version.split()[0]}.\n\n{sources}",
            "Construction": __doc__.split("\n\n", 2)[2] + "\n\n" + sizes,
            "Fields": "`prompt`, `task` (`kolmogorov`), `sequence` (list of int), `program` (the literal list), "
            "`num_ops` (0), `program_bits` (8 × bytes of the literal program), `gzip_bits` (8 × gzip bytes of the "
            "comma-separated sequence), `raw_bits` (8 × bytes of the comma-separated sequence), `hint`, `modality`, "
            "`offset` (where the window starts in the source).",
            "Metrics": "The leaderboard reports accuracy (pass@1: the program outputs the sequence exactly) and the "
            "compression rate: total bits of the programs over total bits of the sequences, a failed program "
            "counting as the sequence's gzip encoding (`trl_ext.rewards.kolmogorov.compression_rates`).",
        },
        license=source["hub_license"][0],
        tags=("kolmogorov", "compression", "real-data"),
    )
    if source["hub_license"][1]:
        meta["license_name"] = source["hub_license"][1]
    return Built(DatasetDict(train=Dataset.from_list(train), test=Dataset.from_list(test)), meta, body)
