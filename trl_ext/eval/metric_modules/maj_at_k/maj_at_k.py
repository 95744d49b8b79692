"""`evaluate` metric module: maj@k — the probability that the majority answer of k samples is correct,
estimated without bias from n samples per problem (ties split evenly; empty answers never win).

    metric = evaluate.load("<path>/maj_at_k")
    metric.compute(predictions=[["4", "4", "5"]], references=["4"], k=[1, 3])   # canonical answers, "" = none
"""

import datasets
import evaluate

from trl_ext.eval.metrics import mean_maj_at_k


class MajAtK(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Wang et al. 2022, Self-Consistency, arXiv 2203.11171",
            inputs_description="predictions: per problem, the canonical answer of each sample ('' when none); references: the correct answer",
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Value("string"),
                }
            ),
        )

    def _compute(self, predictions, references, k=(1,)):
        answers = [[a if a != "" else None for a in p] for p in predictions]
        correct = [[a == ref for a in p] for p, ref in zip(predictions, references)]
        ks = [k] if isinstance(k, int) else list(k)
        return {f"maj@{j}": mean_maj_at_k(answers, correct, j) for j in ks}
