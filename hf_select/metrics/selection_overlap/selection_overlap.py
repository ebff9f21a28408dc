"""``selection_overlap``: how much two selections agree (the paper's overlap figure), as a local ``evaluate`` module.

Each (prediction, reference) pair is one comparison of two selections given as row indices into the same pool::

    metric = evaluate.load("<path>/hf_select/metrics/selection_overlap")
    metric.compute(predictions=[res_bm25.indices], references=[res_embedding.indices], pool_size=len(pool))
    metric.compute(predictions=res_bm25.indices, references=res_embedding.indices)   # one pair: flat lists work too

Both arguments are either one selection each (a flat list / 1-D array of row indices, of any sizes) or lists of
selections of the same length; anything else is a ``ValueError`` that says which form is expected.

Returns, averaged over the pairs (and per pair under ``per_pair``):

- ``jaccard``: ``|A & B| / |A | B|``;
- ``overlap``: ``|A & B| / min(|A|, |B|)`` (1.0 when the smaller selection is inside the larger one);
- ``percent_of_reference``: ``100 * |A & B| / |B|`` (share of the reference selection also chosen by the prediction);
- ``intersection``: ``|A & B|``;
- with ``pool_size=N``: ``expected_jaccard_random``, the Jaccard of two independent uniform selections of the same
  sizes (``E|A & B| = |A| |B| / N``), the chance level to compare against.

Duplicated indices count once.
"""

import datasets
import evaluate

_CITATION = """\
@misc{hf_select,
  title = {hf_select: compute-constrained data selection for LLM fine-tuning},
  year = {2026}
}
"""

_DESCRIPTION = "Jaccard similarity and percent overlap between two selections of row indices from one pool."

_KWARGS_DESCRIPTION = """
Args:
    predictions: one selection (a list of int row indices) or a list of selections.
    references: the selection(s) to compare with: one selection, or a list as long as predictions.
    pool_size: (optional) number of rows in the pool, for the chance-level Jaccard.
Returns:
    jaccard, overlap, percent_of_reference, intersection (means over pairs), per_pair (list of dicts),
    expected_jaccard_random (with pool_size).
Examples:
    >>> metric = evaluate.load("path/to/hf_select/metrics/selection_overlap")
    >>> metric.compute(predictions=[[0, 1, 2, 3]], references=[[2, 3, 4, 5]])["jaccard"]
    0.3333333333333333
    >>> metric.compute(predictions=[0, 1, 2, 3], references=[2, 3, 4, 5, 6, 7])["intersection"]
    2
"""


def _is_index(x):
    import numbers

    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _form(value, name):
    """``"flat"`` (one selection of row indices) or ``"nested"`` (a list of selections); else a clear ValueError."""
    if hasattr(value, "tolist"):  # numpy arrays, torch tensors
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if all(_is_index(x) for x in value):
            return "flat", list(value)
        rows = [x.tolist() if hasattr(x, "tolist") else x for x in value]
        if all(isinstance(r, (list, tuple)) and all(_is_index(x) for x in r) for r in rows):
            return "nested", [list(r) for r in rows]
    raise ValueError(f"selection_overlap: {name} must be one selection (a list of int row indices, e.g. [3, 0, 7]) "
                     f"or a list of selections (e.g. [[3, 0, 7], [1, 2]]); got {type(value).__name__} "
                     f"{str(value)[:80]}.")


class SelectionOverlap(evaluate.Metric):
    def compute(self, *, predictions=None, references=None, **kwargs):
        """As ``evaluate.Metric.compute``; a flat pair of selections is one comparison."""
        if predictions is None or references is None:
            return super().compute(predictions=predictions, references=references, **kwargs)
        (p_form, p), (r_form, r) = _form(predictions, "predictions"), _form(references, "references")
        if p_form != r_form:
            raise ValueError(f"selection_overlap: predictions is {p_form} and references is {r_form}; give one "
                             "selection each (flat lists) or two lists of selections of the same length.")
        if p_form == "flat":
            p, r = [p], [r]
        if len(p) != len(r):
            raise ValueError(f"selection_overlap: {len(p)} prediction selection(s) but {len(r)} reference "
                             "selection(s); each prediction is compared with the reference at the same position.")
        return super().compute(predictions=p, references=r, **kwargs)

    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("int64")),
                "references": datasets.Sequence(datasets.Value("int64")),
            }),
        )

    def _compute(self, predictions, references, pool_size=None):
        if len(predictions) == 0:
            raise ValueError("selection_overlap: give at least one pair of selections.")
        pairs = []
        for a_list, b_list in zip(predictions, references):
            a, b = {int(x) for x in a_list}, {int(x) for x in b_list}
            if not a or not b:
                raise ValueError("selection_overlap: a selection is empty.")
            if pool_size is not None:
                top = max(max(a), max(b))
                if top >= pool_size or min(min(a), min(b)) < 0:
                    raise ValueError(f"selection_overlap: index {top} is outside a pool of {pool_size} rows.")
            inter = len(a & b)
            pair = {
                "jaccard": inter / len(a | b),
                "overlap": inter / min(len(a), len(b)),
                "percent_of_reference": 100.0 * inter / len(b),
                "intersection": inter,
            }
            if pool_size is not None:
                expected = len(a) * len(b) / pool_size
                pair["expected_jaccard_random"] = expected / (len(a) + len(b) - expected)
            pairs.append(pair)
        out = {key: sum(p[key] for p in pairs) / len(pairs) for key in pairs[0]}
        out["per_pair"] = pairs
        return out
