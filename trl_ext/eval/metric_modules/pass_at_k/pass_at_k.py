"""`evaluate` metric module: unbiased pass@k (Chen et al. 2021, arXiv 2107.03374) from n samples per problem.

metric = evaluate.load("<path>/pass_at_k")
metric.compute(predictions=[[1, 0, 1], [0, 0, 0]], k=[1, 2])   # one list of 0/1 per problem
"""

import datasets
import evaluate

from trl_ext.eval.metrics import mean_pass_at_k


class PassAtK(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Chen et al. 2021, Evaluating Large Language Models Trained on Code, arXiv 2107.03374",
            inputs_description="predictions: per problem, a list with 1 for each correct sample and 0 otherwise",
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("int32"))}),
        )

    def _compute(self, predictions, k=(1,)):
        ks = [k] if isinstance(k, int) else list(k)
        return {f"pass@{j}": mean_pass_at_k([[bool(x) for x in p] for p in predictions], j) for j in ks}
