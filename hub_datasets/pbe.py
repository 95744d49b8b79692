"""PBE string-rewrite cascades, after PBEBench (arXiv 2505.23126): find the ordered cascade of
`replace(old, new)` rules that maps each input string to its output. `task = "pbe"`.

Generation: random inputs over an alphabet; rules drawn one at a time, mostly from substrings present in the
current strings so that they apply; a rule that changes nothing (or empties/overgrows a string) is pruned and
redrawn; a cascade with a rule whose removal leaves every shown output unchanged is rejected, so every rule of
the reference is needed. Held-out pairs: further random inputs, each changed by the same cascade, with its
outputs; they are not shown in the prompt and the verifier decides on them too (a lookup table of one
`input>output` rule per shown example fails them). Each instance is labelled with the rule interactions it contains — for rules A before B, on the
strings before A: A *feeds* B (A creates occurrences of B's pattern), A *bleeds* B (A destroys them),
*counter-feeding* (B would create occurrences of A's pattern, but comes too late), *counter-bleeding* (B would
destroy A's, but comes too late) — and generation balances the four categories by rejection. Instances are
deduplicated and every one is validated by replaying its cascade through the verifier.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from hub_datasets.base import Built, card, check_range, markdown_table, unique_splits
from trl_ext.rewards import pbe as verifier

CATEGORIES = ("feeding", "bleeding", "counter-feeding", "counter-bleeding")


@dataclass(frozen=True)
class PBEConfig:
    rules: tuple[int, int] = (2, 5)  # cascade length
    inputs: tuple[int, int] = (4, 6)  # input/output examples per instance
    length: tuple[int, int] = (5, 10)  # input string length
    alphabet: str = "abcdefgh"
    window: tuple[int, int] = (1, 3)  # length of a rule's old and new strings
    interleave: bool = False  # prompt: input and output characters side by side (needs equal lengths)
    held_out: int = 4  # input/output pairs made by the same cascade, not shown, checked by the verifier

    def validate(self) -> None:
        check_range("rules", self.rules, 1, 64)
        check_range("inputs", self.inputs, 1)
        if self.held_out < 1:
            raise ValueError("knob 'held_out' must be at least 1 (the reward decides on held-out pairs too)")
        check_range("length", self.length, 1)
        check_range("window", self.window, 1)
        if len(set(self.alphabet)) < 2 or any(c in self.alphabet for c in ">\n` "):
            raise ValueError(
                "knob 'alphabet' needs at least 2 distinct characters and none of '>', newline, '`', space"
            )
        if self.interleave and self.window != (1, 1):
            raise ValueError("knob 'interleave' needs window 1-1 (single-character rules keep lengths equal)")


CONFIGS = {
    "demo": PBEConfig(
        rules=(1, 2), inputs=(3, 5), length=(3, 6), alphabet="abcdef", window=(1, 1), interleave=True
    ),
    "lite": PBEConfig(),
    "hard": PBEConfig(rules=(10, 30), inputs=(5, 8), length=(8, 16), alphabet="abcdefghijkl", window=(1, 4)),
}
DEFAULT_SIZE = {"demo": (2000, 300), "lite": (1000, 200), "hard": (1000, 200)}

INSTRUCTIONS = (
    "Find the program that maps each input string to its output string. A program is an ordered list of rules; "
    "a rule `old>new` replaces every occurrence of `old` by `new` (like Python's str.replace), and the rules are "
    "applied one after the other. Answer with one rule per line inside a ``` block.\n\n"
)


def _random_string(rng: random.Random, alphabet: str, lo: int, hi: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def interactions(rules: list[tuple[str, str]], inputs: list[str]) -> set[str]:
    """The interaction categories between every ordered pair of rules (module docstring)."""
    found = set()
    states = [list(inputs)]
    for old, new in rules:
        states.append([s.replace(old, new) for s in states[-1]])
    for i, (a_old, a_new) in enumerate(rules):
        before = states[i]
        for b_old, b_new in rules[i + 1 :]:
            b_before = sum(s.count(b_old) for s in before)
            b_after_a = sum(s.replace(a_old, a_new).count(b_old) for s in before)
            a_before = sum(s.count(a_old) for s in before)
            a_after_b = sum(s.replace(b_old, b_new).count(a_old) for s in before)
            if b_after_a > b_before:
                found.add("feeding")
            if b_after_a < b_before:
                found.add("bleeding")
            if a_after_b > a_before:
                found.add("counter-feeding")
            if a_after_b < a_before:
                found.add("counter-bleeding")
    return found


def _draw_rule(
    rng: random.Random, strings: list[str], config: PBEConfig, max_len: int
) -> tuple[str, str] | None:
    lo, hi = config.window
    if rng.random() < 0.8:  # a substring that is there, so that the rule applies
        source = rng.choice(strings)
        width = rng.randint(lo, min(hi, len(source)))
        start = rng.randrange(len(source) - width + 1)
        old = source[start : start + width]
    else:
        old = _random_string(rng, config.alphabet, lo, hi)
    new = _random_string(rng, config.alphabet, lo, hi)
    after = [s.replace(old, new) for s in strings]
    if old == new or after == strings or any(not s or len(s) > max_len for s in after):
        return None  # pruned: changes nothing, or empties / overgrows a string
    return old, new


def redundant_rule(rules: list[tuple[str, str]], inputs: list[str]) -> int | None:
    """The index of the first rule whose removal leaves every output unchanged (a no-op in the cascade), or
    None when every rule is needed."""
    outputs = [verifier.run_rules(rules, s) for s in inputs]
    for i in range(len(rules)):
        if [verifier.run_rules(rules[:i] + rules[i + 1 :], s) for s in inputs] == outputs:
            return i
    return None


def _held_out(
    rng: random.Random, config: PBEConfig, rules: list[tuple[str, str]], shown: list[str]
) -> list[str] | None:
    """`config.held_out` fresh inputs, each changed by the cascade and none shown; None when they cannot be
    found quickly (the instance is then redrawn)."""
    found: list[str] = []
    for _ in range(50 * config.held_out):
        candidate = _random_string(rng, config.alphabet, *config.length)
        output = verifier.run_rules(rules, candidate)
        if candidate in shown or candidate in found or output in (None, candidate) or not output:
            continue
        found.append(candidate)
        if len(found) == config.held_out:
            return found
    return None


def _instance(rng: random.Random, config: PBEConfig, want: str | None) -> dict | None:
    n_inputs = rng.randint(*config.inputs)
    inputs = [_random_string(rng, config.alphabet, *config.length) for _ in range(n_inputs)]
    target = rng.randint(*config.rules)
    rules, strings = [], list(inputs)
    max_len = 3 * config.length[1]
    for _ in range(20 * target):
        if len(rules) == target:
            break
        rule = _draw_rule(rng, strings, config, max_len)
        if rule:
            rules.append(rule)
            strings = [s.replace(*rule) for s in strings]
    if len(rules) != target or strings == inputs or redundant_rule(rules, inputs) is not None:
        return None
    found = interactions(rules, inputs)
    if want is not None and want not in found:
        return None
    held_out = _held_out(rng, config, rules, inputs)
    if held_out is None:
        return None
    return {
        "inputs": inputs,
        "outputs": strings,
        "held_out_inputs": held_out,
        "held_out_outputs": [verifier.run_rules(rules, s) for s in held_out],
        "rules": [list(r) for r in rules],
        "interactions": sorted(found),
    }


def render_prompt(inputs: list[str], outputs: list[str], interleave: bool) -> str:
    if interleave:  # the tiny demo model sees input character j beside output character j
        return "\n".join(" ".join(a + b for a, b in zip(i, o)) for i, o in zip(inputs, outputs)) + "\n"
    examples = "\n".join(f"{i} -> {o}" for i, o in zip(inputs, outputs))
    return INSTRUCTIONS + examples


def make_row(instance: dict, config: PBEConfig, index: int) -> dict:
    rules = [tuple(r) for r in instance["rules"]]
    first_old = rules[0][0]
    return {
        "prompt": [
            {
                "role": "user",
                "content": render_prompt(instance["inputs"], instance["outputs"], config.interleave),
            }
        ],
        "task": "pbe",
        **instance,
        "num_rules": len(rules),
        "answer": verifier.format_rules(rules),
        "hint": f"The program has {len(rules)} rule(s); the first one rewrites {first_old!r}.",
    }


def generate(config: PBEConfig, n: int, n_test: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Balanced, deduplicated, validated instances: (train rows, test rows), no instance shared."""
    config.validate()

    def make(rng: random.Random, index: int) -> dict | None:
        want = CATEGORIES[index % len(CATEGORIES)] if config.rules[1] > 1 else None
        for _ in range(50):  # balance: insist on the wanted category for a while, then take what comes
            instance = _instance(rng, config, want)
            if instance:
                return make_row(instance, config, index)
        return make_row(instance, config, index) if (instance := _instance(rng, config, None)) else None

    train, test = unique_splits(
        make, lambda r: (tuple(r["inputs"]), tuple(r["outputs"])), n, n_test, seed, "pbe"
    )
    for row in train + test:  # every instance replays through its own verifier
        if verifier.score([row["answer"]], [row]) != [1.0]:
            raise AssertionError(f"generated PBE instance does not verify: {row}")
    return train, test


def stats(rows: list[dict]) -> dict:
    counts = Counter(c for r in rows for c in r["interactions"])
    return {
        "rows": len(rows),
        "mean_rules": sum(r["num_rules"] for r in rows) / len(rows),
        "mean_input_length": sum(len(s) for r in rows for s in r["inputs"])
        / sum(len(r["inputs"]) for r in rows),
        **{f"share_{c}": counts[c] / len(rows) for c in CATEGORIES},
    }


def build(config_name: str, config: PBEConfig, n: int, n_test: int, seed: int) -> Built:
    from datasets import Dataset, DatasetDict

    train, test = generate(config, n, n_test, seed)
    s = stats(train + test)
    difficulty = markdown_table(
        ["config", "rules", "inputs", "length", "window", "alphabet", "mean rules", "mean input length"],
        [
            [
                name,
                f"{c.rules[0]}-{c.rules[1]}",
                f"{c.inputs[0]}-{c.inputs[1]}",
                f"{c.length[0]}-{c.length[1]}",
                f"{c.window[0]}-{c.window[1]}",
                c.alphabet,
                "",
                "",
            ]
            for name, c in CONFIGS.items()
        ]
        + [
            [
                f"**{config_name} (this build)**",
                "",
                "",
                "",
                "",
                "",
                f"{s['mean_rules']:.2f}",
                f"{s['mean_input_length']:.1f}",
            ]
        ],
    )
    shares = ", ".join(f"{c} {s['share_' + c]:.0%}" for c in CATEGORIES)
    meta, body = card(
        pretty_name="PBE string-rewrite cascades",
        n_rows=len(train) + len(test),
        summary="Programming-by-example over strings: infer the ordered cascade of `replace(old, new)` rules "
        "that maps every input to its output. Generated, so contamination-free and unlimited; after PBEBench "
        "(arXiv 2505.23126).",
        sections={
            "Fields": "`prompt` (conversational), `task` (`pbe`), `inputs`, `outputs` (lists of str: the examples "
            "the prompt shows), `held_out_inputs`, `held_out_outputs` (more pairs of the same cascade, not shown), `rules` "
            "(the reference cascade: `[old, new]` pairs applied in order with `str.replace`), `answer` (the "
            "reference in the answer format, one `old>new` per line), `num_rules`, `interactions` (rule "
            "interaction categories present), `hint` (the number of rules and the first rule's `old` only).",
            "Generation": __doc__.split("\n\n", 1)[1],
            "Difficulty knobs": difficulty + f"\n\nInteraction categories in this build: {shares}.",
            "Verification": "`trl_ext.rewards.task_reward` (task `pbe`): pass when every output, shown and held-out, "
            f"is exact; at most {verifier.MAX_RULES} rules are applied, unparsable lines are no-ops, a rule that "
            f"grows a string past {verifier.MAX_LENGTH} characters fails the answer. RLEF feedback names shown "
            "examples only. "
            "`trl_ext.rewards.pbe_similarity_reward` gives the dense edit-similarity shaping "
            "1 − ΣED(pred, out)/ΣED(in, out), clipped to [0, 1].",
        },
    )
    return Built(DatasetDict(train=Dataset.from_list(train), test=Dataset.from_list(test)), meta, body)
