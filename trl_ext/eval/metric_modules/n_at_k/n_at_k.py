"""`evaluate` metric module: n@k — submit n of k samples, chosen by the public tests; success if one is
correct (AlphaCode, arXiv 2203.07814). Exact expectation from N ≥ k samples per problem.

    metric = evaluate.load("<path>/n_at_k")
    metric.compute(predictions=[[1, 0, 1]], references=[[1, 0, 0]], n=1, k=[2])
    # predictions: public tests passed per sample; references: all tests passed per sample
"""

import datasets
import evaluate

from trl_ext.eval.metrics import mean_n_at_k


class NAtK(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Li et al. 2022, Competition-Level Code Generation with AlphaCode, arXiv 2203.07814",
            inputs_description="predictions: per problem, 1 where a sample passes the public tests; references: 1 where it is correct",
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("int32")),
                    "references": datasets.Sequence(datasets.Value("int32")),
                }
            ),
        )

    def _compute(self, predictions, references, n=1, k=(1,)):
        ks = [k] if isinstance(k, int) else list(k)
        public = [[bool(x) for x in p] for p in predictions]
        correct = [[bool(x) for x in r] for r in references]
        return {f"{n}@{j}": mean_n_at_k(public, correct, n, j) for j in ks}
