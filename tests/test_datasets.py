"""Dataset builders: every instance verifies, harder configs are harder, converters read upstream schemas,
one reward dispatches on `task`, cards are complete, and the Hub round trip works."""

import json
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard

import hub_datasets
from hub_datasets import kolmogorov, pbe, puzzles
from trl_ext import hub
from trl_ext.cli import main
from trl_ext.rewards import task_answers, task_reward
from trl_ext.rewards.code import score as code_score

FIXTURES = Path(__file__).parent / "fixtures"


def reference_completion(row: dict) -> str:
    if row["task"] == "pbe":
        return f"```\n{row['answer']}\n```"
    if row["task"] == "kolmogorov":
        return f"```python\n{row['program']}```"
    return f"```\n{row['answer']}\n```"


def wrong_completion(row: dict) -> str:
    if row["task"] == "pbe":
        return "zz>y"  # changes nothing, and every instance changes at least one string
    if row["task"] == "kolmogorov":
        return "```python\noutput = " + str(row["sequence"][:-1]) + "\n```"
    return "```\nNone\n```"


def rewards_of(rows, completions):
    columns = {key: [r.get(key) for r in rows] for key in rows[0]}
    return task_reward(prompts=[r["prompt"] for r in rows], completions=completions, **columns)


GENERATED = [
    (pbe, "demo"),
    (pbe, "lite"),
    (pbe, "hard"),
    (kolmogorov, "lite"),
    (kolmogorov, "hard"),
    (puzzles, "lite"),
    (puzzles, "hard"),
]


@pytest.mark.parametrize(
    "module,config", GENERATED, ids=[f"{m.__name__.split('.')[-1]}-{c}" for m, c in GENERATED]
)
def test_every_generated_instance_verifies(module, config):
    train, test = module.generate(module.CONFIGS[config], 200, 50, seed=1)
    rows = train + test
    assert len(train) == 200 and len(test) == 50
    rewards = rewards_of(rows, [reference_completion(r) for r in rows])
    if module is kolmogorov:  # correct, graded by compression: (0.5, 1)
        assert all(0.5 < r < 1.0 for r in rewards)
    else:
        assert rewards == [1.0] * len(rows)
    # wrong answers do not pass
    assert sum(rewards_of(rows[:60], [wrong_completion(r) for r in rows[:60]])) <= 3
    for row in rows:
        assert row["prompt"][0]["role"] == "user" and row["hint"]
        assert row.get("answer", row.get("program")) not in row["hint"]


def test_generators_are_deterministic_and_splits_disjoint():
    a = pbe.generate(pbe.CONFIGS["lite"], 50, 20, seed=7)
    assert a == pbe.generate(pbe.CONFIGS["lite"], 50, 20, seed=7)
    assert a != pbe.generate(pbe.CONFIGS["lite"], 50, 20, seed=8)
    train, test = kolmogorov.generate(kolmogorov.CONFIGS["lite"], 100, 50, seed=0)
    assert not {tuple(r["sequence"]) for r in train} & {tuple(r["sequence"]) for r in test}
    train, test = puzzles.generate(puzzles.CONFIGS["lite"], 100, 30, seed=0)
    assert not {r["sat"] for r in train} & {r["sat"] for r in test}


def test_harder_configs_are_harder():
    lite, hard = (pbe.stats(sum(pbe.generate(pbe.CONFIGS[c], 150, 0, 0), [])) for c in ("lite", "hard"))
    assert (
        hard["mean_rules"] > 3 * lite["mean_rules"] and hard["mean_input_length"] > lite["mean_input_length"]
    )
    lite, hard = (
        kolmogorov.stats(sum(kolmogorov.generate(kolmogorov.CONFIGS[c], 150, 0, 0), []))
        for c in ("lite", "hard")
    )
    assert hard["mean_ops"] > 1.5 * lite["mean_ops"] and hard["mean_length"] > lite["mean_length"]
    assert hard["mean_program_bits"] > lite["mean_program_bits"]
    lite, hard = (
        puzzles.mean_answer_length(sum(puzzles.generate(puzzles.CONFIGS[c], 150, 0, 0), []))
        for c in ("lite", "hard")
    )
    assert hard > lite


def test_pbe_interactions_are_detected_and_balanced():
    assert pbe.interactions([("a", "b"), ("b", "c")], ["aa"]) == {"feeding"}
    assert pbe.interactions([("ab", "x"), ("b", "y")], ["ab"]) == {"bleeding", "counter-bleeding"}
    assert pbe.interactions([("b", "c"), ("a", "b")], ["a"]) == {"counter-feeding"}
    stats = pbe.stats(sum(pbe.generate(pbe.CONFIGS["lite"], 200, 0, 0), []))
    assert all(stats[f"share_{c}"] > 0.3 for c in pbe.CATEGORIES)


@pytest.mark.parametrize("config", ["demo", "lite", "hard"])
def test_pbe_held_out_pairs_defeat_a_lookup_table(config):
    from trl_ext.rewards import pbe as verifier

    rows = sum(pbe.generate(pbe.CONFIGS[config], 150, 30, seed=3), [])
    for row in rows:
        pairs = list(zip(row["held_out_inputs"], row["held_out_outputs"]))
        assert len(pairs) == pbe.CONFIGS[config].held_out
        assert all(i != o and i not in row["inputs"] for i, o in pairs)  # changed by the cascade, never shown
        assert [verifier.run_rules([tuple(r) for r in row["rules"]], i) for i, _ in pairs] == [
            o for _, o in pairs
        ]
    lookup = ["\n".join(f"{i}>{o}" for i, o in zip(r["inputs"], r["outputs"])) for r in rows]
    if config != "demo":  # (demo inputs are so short that one can be part of another)
        assert all(verifier.feedback(t, r) is None for t, r in zip(lookup, rows))  # right on every shown one
        assert all("held-out" in s.reason for s in verifier.score(lookup, rows))
    assert rewards_of(rows, lookup) == [0.0] * len(rows)  # the held-out pairs decide


def test_pbe_generator_never_emits_a_no_op_rule():
    # hard seed 0 (260 rows) had 4 cascades with a no-op rule before the generator checked for them
    runs = [("hard", 200, 60, 0)] + [
        (config, 30, 0, seed) for config in ("lite", "hard") for seed in range(1, 6)
    ]
    for config, n, n_test, seed in runs:
        for row in sum(pbe.generate(pbe.CONFIGS[config], n, n_test, seed=seed), []):
            assert pbe.redundant_rule([tuple(r) for r in row["rules"]], row["inputs"]) is None
    # the check itself: a rule undone by a later one, and a rule whose effect a later one overwrites
    assert pbe.redundant_rule([("a", "b"), ("b", "a"), ("c", "d")], ["abc"]) == 0
    assert pbe.redundant_rule([("a", "b"), ("b", "c")], ["ab"]) is None


def test_pbe_verifier_details():
    row = {"inputs": ["abc", "cab"], "outputs": ["xbc", "cxb"]}
    assert rewards_of([{**row, "task": "pbe", "prompt": []}], ['replace("a", "x")'])[0] == 1.0
    assert rewards_of([{**row, "task": "pbe", "prompt": []}], ["garbage line\na>x\n:::"])[0] == 1.0
    from trl_ext.rewards.pbe import MAX_RULES, parse_rules, similarity

    assert len(parse_rules("a>b\n" * 1000)) == MAX_RULES
    assert similarity(["a>x"], [row]) == [1.0] and similarity(["q>r"], [row]) == [0.0]
    assert similarity(["a>x\nb>q"], [{"inputs": ["ab"], "outputs": ["xb"]}]) == [
        0.0
    ]  # as far as the input was
    assert similarity(["b>q"], [{"inputs": ["abb"], "outputs": ["xqq"]}]) == [pytest.approx(2 / 3)]
    assert similarity(["b>x"], [{"inputs": ["ab"], "outputs": ["ab"]}]) == [0.0]  # zero denominator guarded


def test_task_reward_dispatch_and_answers():
    p_rows = pbe.generate(pbe.CONFIGS["lite"], 2, 0, 0)[0]
    k_rows = kolmogorov.generate(kolmogorov.CONFIGS["lite"], 2, 0, 0)[0]
    z_rows = puzzles.generate(puzzles.CONFIGS["lite"], 2, 0, 0)[0]
    code_row = {
        "task": "code",
        "prompt": [],
        "public_tests": [{"input": "1", "output": "2"}],
        "private_tests": [],
        "fn_name": None,
    }
    rows = [*p_rows, *k_rows, *z_rows, code_row]
    all_columns = sorted({k for r in rows for k in r})
    rows = [{k: r.get(k) for k in all_columns} for r in rows]  # a mixture: every column, None where absent
    completions = [reference_completion(r) for r in rows[:-1]] + ["print(int(input()) + 1)"]
    rewards = rewards_of(rows, completions)
    assert rewards[:2] + rewards[4:] == [1.0] * 5 and all(0.5 < r < 1.0 for r in rewards[2:4])
    columns = {key: [r.get(key) for r in rows] for key in rows[0]}
    answers = task_answers(completions, **columns)
    assert answers[0] == tuple(rows[0]["outputs"] + rows[0]["held_out_outputs"])
    assert answers[2] == tuple(rows[2]["sequence"])
    assert answers[4] == rows[4]["answer"] or answers[4] == repr(eval(rows[4]["answer"]))
    with pytest.raises(ValueError, match="unknown task 'chess'.*known tasks: pbe"):
        task_reward(prompts=[None], completions=["x"], task=["chess"])


def _convert(name, source, tmp_path):
    built = hub_datasets.build(name, source=str(source) if source else None)
    return [row for split in built.dataset.values() for row in split], built


def _passes_with_reference(rows):
    texts = [f"```python\n{r['solutions'][0]}```" for r in rows]
    return code_score(texts, rows)


def test_codecontests_converter(tmp_path):
    rows, built = _convert("code-contests", FIXTURES / "codecontests.jsonl", tmp_path)
    assert len(rows) == 2 and rows[0]["fn_name"] is None and rows[0]["task"] == "code"
    assert rows[0]["public_tests"] == [{"input": "1 2\n", "output": "3\n"}]
    assert len(rows[0]["private_tests"]) == 3  # private + generated
    assert rows[0]["solutions"] == ["a, b = map(int, input().split())\nprint(a + b)\n"]  # Python 3 only
    assert rows[0]["time_limit_s"] == 2.5 and rows[0]["memory_limit_mb"] == 256
    assert _passes_with_reference(rows) == [1.0, 1.0]
    assert built.card_meta["license"] == "cc-by-4.0"


def test_apps_and_taco_converters(tmp_path):
    rows, built = _convert("code-contests", FIXTURES / "apps.json", tmp_path)
    assert len(rows) == 2  # the problem without tests is skipped
    call = rows[0]
    assert call["fn_name"] == "twice_sum" and call["public_tests"] == [
        {"input": "[1, 2]", "output": "[3, 6]"}
    ]
    assert _passes_with_reference(rows) == [1.0, 1.0]
    assert "skipped (no tests, malformed): 1" in built.card_body and built.card_meta["license"] == "mit"
    rows, built = _convert("code-contests", FIXTURES / "taco.jsonl", tmp_path)
    assert rows[0]["time_limit_s"] == 1.0 and _passes_with_reference(rows) == [1.0]
    assert built.card_meta["license"] == "apache-2.0"


def test_p3_loader():
    rows, built = _convert("p3", FIXTURES / "p3_puzzles.json", None)
    assert [r["source"] for r in rows] == ["SumOfDigits:0", "FloatSquare:0"]
    assert (
        rows[0]["answer"] == "'19'"
        and "2 puzzle(s) without a verified answer were dropped" in built.card_body
    )
    assert rewards_of(rows, [f"```\n{r['answer']}\n```" for r in rows]) == [1.0, 1.0]


def test_humaneval_converter():
    rows, built = _convert("humaneval", None, None)
    assert (
        len(rows) == 164
        and rows[0]["id"] == "HumanEval/0"
        and rows[0]["test_code"].strip().startswith("METADATA")
    )


def test_bad_names_configs_and_sources(tmp_path, capsys):
    bad = [
        (
            ["build-dataset", "chess", "--push-to-hub", str(tmp_path)],
            "unknown dataset 'chess'; datasets: pbe, kolmogorov",
        ),
        (
            ["build-dataset", "pbe", "--config", "expert", "--push-to-hub", str(tmp_path)],
            "configs: demo, lite, hard",
        ),
        (
            ["build-dataset", "pbe", "--set", "depth=3", "--push-to-hub", str(tmp_path)],
            "knobs: rules, inputs",
        ),
        (
            ["build-dataset", "pbe", "--set", "rules=5-2", "--push-to-hub", str(tmp_path)],
            "'rules' must be a range",
        ),
        (
            ["build-dataset", "kolmogorov", "--set", "depth=x", "--push-to-hub", str(tmp_path)],
            "bad value 'x' for knob 'depth'",
        ),
        (["build-dataset", "code-contests", "--push-to-hub", str(tmp_path)], "give --source"),
        (
            [
                "build-dataset",
                "code-contests",
                "--source",
                str(tmp_path / "none.jsonl"),
                "--push-to-hub",
                str(tmp_path),
            ],
            "no such file",
        ),
        (
            [
                "build-dataset",
                "code-contests",
                "--source",
                str(FIXTURES / "p3_puzzles.json"),
                "--push-to-hub",
                str(tmp_path),
            ],
            "unknown code benchmark schema",
        ),
        (
            ["build-dataset", "p3", "--source", str(FIXTURES / "apps.json"), "--push-to-hub", str(tmp_path)],
            "not in the P3 puzzles.json format",
        ),
    ]
    for argv, message in bad:
        assert main(argv) == 2
        assert message in capsys.readouterr().err


def _check_card(text: str, configs: list[str]):
    card = DatasetCard(text)
    data = card.data.to_dict()
    for key in ("license", "task_categories", "size_categories", "pretty_name", "configs", "language"):
        assert data.get(key), f"card lacks {key}"
    assert [c["config_name"] for c in data["configs"]] == configs
    for section in ("## Fields", "## Generation", "## Difficulty knobs", "## Verification"):
        assert section in card.text


def test_build_dataset_cli_local_and_cards(tmp_path):
    target = str(tmp_path / "pbe")
    assert (
        main(
            [
                "build-dataset",
                "pbe",
                "--config",
                "lite",
                "--n",
                "30",
                "--n-test",
                "10",
                "--push-to-hub",
                target,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "build-dataset",
                "pbe",
                "--config",
                "hard",
                "--n",
                "20",
                "--n-test",
                "5",
                "--push-to-hub",
                target,
            ]
        )
        == 0
    )
    _check_card((tmp_path / "pbe" / "README.md").read_text(), ["hard", "lite"])
    loaded = datasets.load_dataset(target, "hard")
    assert loaded["train"].num_rows == 20 and loaded["test"].num_rows == 5
    assert "| **hard (this build)** |" in (tmp_path / "pbe" / "README.md").read_text()
    assert (
        main(
            [
                "build-dataset",
                "kolmogorov",
                "--n",
                "10",
                "--n-test",
                "5",
                "--push-to-hub",
                str(tmp_path / "k"),
            ]
        )
        == 0
    )
    _check_card((tmp_path / "k" / "README.md").read_text(), ["lite"])


@pytest.mark.hub
def test_build_dataset_hub_round_trip(loopback_hub):
    assert (
        main(
            [
                "build-dataset",
                "puzzles",
                "--n",
                "12",
                "--n-test",
                "4",
                "--seed",
                "3",
                "--push-to-hub",
                "tester/puzzles",
            ]
        )
        == 0
    )
    expected_train, expected_test = puzzles.generate(puzzles.CONFIGS["lite"], 12, 4, seed=3)
    loaded = hub.load_dataset("tester/puzzles", "lite")
    assert loaded["train"].to_list() == expected_train and loaded["test"].to_list() == expected_test
    _check_card(hub.read_text("tester/puzzles", "README.md"), ["lite"])
    assert json.loads(json.dumps(loaded["train"][0]["prompt"]))[0]["role"] == "user"
