"""Turning examples into token ids and scored-token masks: the one encoding of hf_select.

Every model-based path (perplexity, IFD, CoLoR-Filter, LESS gradients, the ``target_loss`` metric, budget token
counts, the embedding selector) encodes through :func:`encode`, so a row has the same tokens, and the same tokens
count, everywhere. The rules follow what TRL's ``SFTTrainer`` trains on:

1. **One tokenisation of the whole example.** ``prompt + completion`` is tokenised once, without special tokens.
2. **Special tokens once.** With ``add_special_tokens=True`` the tokens the tokenizer adds around a text (its BOS,
   or ``[CLS]`` ... ``[SEP]``; found by :func:`added_special_tokens`) are added, unless the text already carries them
   (a chat template that writes the BOS itself): never twice.
3. **Completion boundary.** With ``completion_only``, the completion starts where the token ids of the prompt alone
   and of the whole example diverge (their common prefix, as TRL's ``common_prefix_length``); a token that straddles
   the boundary counts as completion. Token 0 is never scored (nothing precedes it).
4. **End token once.** ``append_eos`` adds the EOS token after the completion unless the example already ends with
   it: its ids end with EOS, or its text ends with the EOS token followed only by white space (a chat template's
   ``<|im_end|>\\n``). The tokenizer's own suffix (e.g. an EOS it adds) counts too.
5. **Truncation as in transformers.** ``max_length`` cuts the content from the right and keeps the special tokens;
   cut rows are recorded (``truncated_rows``, ``original_lengths``).

Example:
    >>> from hf_select.scoring.encoding import encode
    >>> from hf_select.testing import toy_tokenizer
    >>> ex = encode([("Q: ", "yes"), "hi"], toy_tokenizer(add_bos=True), completion_only=True)
    >>> ex.input_ids[0].tolist(), ex.target_mask[0].tolist()
    ([2, 81, 58, 32, 121, 101, 115], [False, False, False, False, True, True, True])
    >>> ex.num_targets.tolist()          # plain text: every token after the first
    [3, 2]
    >>> encode(["hi", "hi<1> "], toy_tokenizer(), append_eos=True).input_ids[1].tolist()   # already ends with EOS
    [104, 105, 1, 32]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

IGNORE_INDEX = -100
_PROBE = "a"  # a text whose tokenisation with and without special tokens shows what the tokenizer adds


@dataclass
class TokenizedExamples:
    """Token ids of each example and which of its tokens are scored (``target_mask[i][j]``: token j's NLL counts).

    ``num_truncated`` / ``truncated_rows`` record examples cut to ``max_length``; ``original_lengths`` their token
    counts before the cut.
    """

    input_ids: list[np.ndarray]
    target_mask: list[np.ndarray]
    original_lengths: np.ndarray
    max_length: int | None = None
    truncated_rows: list[int] = field(default_factory=list)

    @classmethod
    def from_ids(cls, ids: Sequence[Sequence[int]], max_length: int | None = None,
                 labels: Sequence[Sequence[int]] | None = None) -> TokenizedExamples:
        """Wrap already tokenised examples: all tokens after the first scored, or those whose ``labels`` entry is
        not :data:`IGNORE_INDEX` (token 0 never is)."""
        arrays = [np.asarray(x, dtype=np.int64) for x in ids]
        if labels is None:
            masks = [np.ones(len(a), dtype=bool) for a in arrays]
        else:
            masks = [np.asarray(lab, dtype=np.int64) != IGNORE_INDEX for lab in labels]
            if any(len(m) != len(a) for m, a in zip(masks, arrays)):
                raise ValueError("labels must have one entry per token of each example.")
        for m in masks:
            m[:1] = False
        original = np.array([len(a) for a in arrays], dtype=np.int64)
        truncated = [i for i, a in enumerate(arrays) if max_length is not None and len(a) > max_length]
        if max_length is not None:
            arrays, masks = [a[:max_length] for a in arrays], [m[:max_length] for m in masks]
        return cls(arrays, masks, original, max_length, truncated)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(a) for a in self.input_ids], dtype=np.int64)

    @property
    def num_targets(self) -> np.ndarray:
        """Scored tokens per example (0 for empty or one-token examples, or an empty completion)."""
        return np.array([int(m.sum()) for m in self.target_mask], dtype=np.int64)

    @property
    def num_truncated(self) -> int:
        return len(self.truncated_rows)

    def labels(self, i: int) -> np.ndarray:
        """Token-aligned labels of example ``i``: its ids where scored, :data:`IGNORE_INDEX` elsewhere."""
        return np.where(self.target_mask[i], self.input_ids[i], IGNORE_INDEX)

    def report(self) -> dict[str, int]:
        """Counts for the cost record: truncated rows and rows without any scored token."""
        return {"truncated": self.num_truncated, "without_loss_tokens": int((self.num_targets == 0).sum())}

    def subset(self, rows: Sequence[int]) -> TokenizedExamples:
        rows = [int(r) for r in rows]
        position = {r: j for j, r in enumerate(rows)}
        return TokenizedExamples([self.input_ids[i] for i in rows], [self.target_mask[i] for i in rows],
                                 self.original_lengths[rows], self.max_length,
                                 sorted(position[i] for i in self.truncated_rows if i in position))


def _ids(tokenizer: Any, texts: list[str], add_special_tokens: bool) -> list[list[int]]:
    if not texts:
        return []
    return [list(x) for x in tokenizer(texts, add_special_tokens=add_special_tokens)["input_ids"]]


def added_special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """``(prefix, suffix)``: the token ids ``tokenizer(text)`` adds before and after a text (e.g. ``([bos], [])``
    for Llama-2 tokenizers, ``([cls], [sep])`` for BERT, ``([], [])`` for GPT-2 or SmolLM2)."""
    with_special = _ids(tokenizer, [_PROBE], True)[0]
    without = _ids(tokenizer, [_PROBE], False)[0]
    for start in range(len(with_special) - len(without) + 1):
        if with_special[start:start + len(without)] == without:
            return with_special[:start], with_special[start + len(without):]
    return [], []  # the tokenizer changes the text itself with special tokens on: add nothing rather than guess


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _as_pair(item: Any, i: int) -> tuple[str, str]:
    if isinstance(item, str):
        return "", item
    if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
        return item[0], item[1]
    raise TypeError(f"Example {i}: expected a string or a (prompt, completion) pair of strings, got {item!r:.80}.")


def _terminated(body: list[int], completion: str, eos_id: int, eos_text: str | None, suffix: list[int]) -> bool:
    if (body and body[-1] == eos_id) or eos_id in suffix:
        return True
    return bool(eos_text) and completion.rstrip().endswith(eos_text)


def encode(items: Sequence[str] | Sequence[tuple[str, str]], tokenizer: Any, *, completion_only: bool = False,
           max_length: int | None = None, add_special_tokens: bool = True,
           append_eos: bool = False) -> TokenizedExamples:
    """Token ids and scored-token masks of texts (or ``(prompt, completion)`` pairs), by the rules of this module.

    Args:
        items: strings, or pairs whose concatenation is the example (needed for ``completion_only``).
        tokenizer: a Hugging Face tokenizer (any object whose ``__call__`` takes a list of texts and
            ``add_special_tokens`` and returns ``{"input_ids": [...]}``).
        completion_only: score only the completion tokens (rule 3).
        max_length: keep at most this many tokens per example (rule 5).
        add_special_tokens: add the tokenizer's special tokens once (rule 2); ``False`` encodes the bare text.
        append_eos: end each example with the EOS token once (rule 4).
    """
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}.")
    pairs = [_as_pair(t, i) for i, t in enumerate(items)]
    prefix, suffix = added_special_tokens(tokenizer) if add_special_tokens and pairs else ([], [])
    eos_id = getattr(tokenizer, "eos_token_id", None) if append_eos else None
    eos_text = getattr(tokenizer, "eos_token", None)
    bodies = _ids(tokenizer, [p + c for p, c in pairs], False)
    with_prompt = [i for i, (p, _) in enumerate(pairs) if completion_only and p]
    prompt_ids = dict(zip(with_prompt, _ids(tokenizer, [pairs[i][0] for i in with_prompt], False)))
    ids_list, masks, original, truncated = [], [], [], []
    for i, body in enumerate(bodies):
        if eos_id is not None and not _terminated(body, pairs[i][1], eos_id, eos_text, suffix):
            body = body + [eos_id]
        head = [] if prefix and body[:len(prefix)] == prefix else prefix
        tail = [] if suffix and body[-len(suffix):] == suffix else suffix
        total = len(head) + len(body) + len(tail)
        original.append(total)
        boundary = common_prefix_length(prompt_ids[i], body) if i in prompt_ids else 0
        if max_length is not None and total > max_length:
            truncated.append(i)
            keep = max(max_length - len(head) - len(tail), 0)
            body = body[:keep]
            if len(head) + len(body) + len(tail) > max_length:  # specials alone exceed max_length
                head, tail = head[:max_length], []
        ids = np.asarray(head + body + tail, dtype=np.int64)
        mask = np.zeros(len(ids), dtype=bool)
        mask[max(1, len(head) + boundary):] = True
        ids_list.append(ids)
        masks.append(mask)
    return TokenizedExamples(ids_list, masks, np.array(original, dtype=np.int64), max_length, truncated)


def encode_rows(data: Any, tokenizer: Any, *, completion_only: bool = False, text_field: str | None = None,
                max_length: int | None = None, add_special_tokens: bool = True,
                append_eos: bool = False) -> TokenizedExamples:
    """:func:`encode` the rows of a dataset (any TRL format; conversations through the tokenizer's chat template)
    as ``(prompt, completion)`` pairs of :func:`hf_select.data.formats.prompt_completion_texts`."""
    from ..data.formats import prompt_completion_texts

    pairs = prompt_completion_texts(data, text_field=text_field, tokenizer=tokenizer)
    return encode(pairs, tokenizer, completion_only=completion_only, max_length=max_length,
                  add_special_tokens=add_special_tokens, append_eos=append_eos)
