"""The one encoding rule: special tokens once, completion boundary, end token once, truncation, counts."""

import numpy as np
import pytest

pytest.importorskip("transformers")

from hf_select.scoring.encoding import (  # noqa: E402
    IGNORE_INDEX,
    TokenizedExamples,
    added_special_tokens,
    common_prefix_length,
    encode,
    encode_rows,
)
from hf_select.testing import byte_tokenizer, require_smollm2, toy_tokenizer  # noqa: E402


def test_added_special_tokens_found_for_each_kind_of_tokenizer():
    assert added_special_tokens(toy_tokenizer()) == ([], [])
    assert added_special_tokens(toy_tokenizer(add_bos=True)) == ([2], [])
    assert added_special_tokens(byte_tokenizer()) == ([], [])


def test_special_tokens_are_added_once():
    tok = toy_tokenizer(add_bos=True)
    ex = encode(["ab", "<2>ab"], tok)  # the second text already starts with the BOS (a chat template that writes it)
    assert ex.input_ids[0].tolist() == [2, 97, 98] == ex.input_ids[1].tolist()
    assert ex.num_targets.tolist() == [2, 2]
    bare = encode(["ab"], tok, add_special_tokens=False)
    assert bare.input_ids[0].tolist() == [97, 98] and bare.num_targets.tolist() == [1]
    # the rule equals a plain tokenizer(text) call when the text carries no special token
    texts = ["hello there", "x", ""]
    assert [x.tolist() for x in encode(texts, tok).input_ids] == tok(texts)["input_ids"]


def test_completion_boundary_is_the_common_prefix_of_the_token_ids():
    tok = toy_tokenizer(add_bos=True)
    ex = encode([("Q: hi\n", "A: yo"), ("", "plain")], tok, completion_only=True)
    assert ex.target_mask[0].tolist() == [False] * 7 + [True] * 5  # BOS + 6 prompt characters
    assert ex.num_targets.tolist() == [5, 5]  # plain text: every token after the first (BOS + 5 characters)
    assert encode([("Q: hi\n", "A: yo")], tok).num_targets.tolist() == [11]
    assert common_prefix_length([1, 2, 3], [1, 2, 4, 5]) == 2


def test_boundary_token_straddling_prompt_and_completion_counts_as_completion():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # a BPE tokenizer that merges "=4" into one token: the prompt "2+2=" ends inside that token
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    vocab["=4"] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[("=", "4")]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    merging = PreTrainedTokenizerFast(tokenizer_object=backend)
    ex = encode([("2+2=", "4")], merging, completion_only=True)
    assert ex.input_ids[0].tolist()[-1] == vocab["=4"]
    assert ex.target_mask[0].tolist() == [False, False, False, True]


def test_append_eos_once():
    tok = toy_tokenizer()
    ex = encode([("Q", "a"), ("Q", "a<1>"), ("Q", "a<1> "), ("", "")], tok, append_eos=True, completion_only=True)
    assert ex.input_ids[0].tolist() == [81, 97, 1]
    assert ex.input_ids[1].tolist() == [81, 97, 1]  # already ends with EOS: not twice
    assert ex.input_ids[2].tolist() == [81, 97, 1, 32]  # EOS then white space, as a chat template renders a turn end
    assert ex.input_ids[3].tolist() == [1]
    assert ex.num_targets.tolist() == [2, 2, 3, 0]


@require_smollm2
def test_less_chat_template_rows_end_with_one_end_token(smollm2_path):
    """Issue 11: LESS appended EOS after SmolLM2's chat-rendered `<|im_end|>\\n`, doubling the end token."""
    from hf_select.scoring.loading import load_tokenizer

    tok = load_tokenizer(smollm2_path)
    chat_rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]}]
    ex = encode_rows(chat_rows, tok, completion_only=True, append_eos=True)
    plain = encode_rows([{"prompt": "Hi", "completion": " Yo"}], tok, completion_only=True, append_eos=True)
    chat = ex.input_ids[0].tolist()
    assert chat.count(tok.eos_token_id) == 3  # system, user and assistant turns: one <|im_end|> each
    assert tok.decode(chat[-2:]) == "<|im_end|>\n"
    plain = plain.input_ids[0].tolist()
    assert plain[-1] == tok.eos_token_id and plain.count(tok.eos_token_id) == 1  # a plain completion gets its EOS
    # only the assistant turn is scored
    scored = tok.decode(ex.input_ids[0][ex.target_mask[0]])
    assert scored.startswith("Yo") and "user" not in scored


def test_truncation_keeps_special_tokens_and_is_counted():
    tok = toy_tokenizer(add_bos=True)
    ex = encode(["abcdefghij", "abc", ""], tok, max_length=4)
    assert ex.num_truncated == 1 and ex.truncated_rows == [0]
    assert ex.original_lengths.tolist() == [11, 4, 1]
    assert ex.lengths.tolist() == [4, 4, 1]
    assert ex.input_ids[0].tolist() == [2, 97, 98, 99]
    assert ex.num_targets.tolist() == [3, 3, 0]  # an empty text has nothing to score
    with pytest.raises(ValueError, match="max_length"):
        encode(["a"], tok, max_length=0)


def test_bert_style_truncation_matches_the_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, **{chr(c): c - 90 for c in range(97, 123)}}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    backend.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                           special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]")
    assert added_special_tokens(tok) == ([2], [3])
    texts = ["abcdefgh", "ab", ""]
    ours = [x.tolist() for x in encode(texts, tok, max_length=5).input_ids]
    assert ours == tok(texts, truncation=True, max_length=5)["input_ids"]


def test_from_ids_labels_and_subset():
    ex = TokenizedExamples.from_ids([[5, 6, 7, 8], [1, 2]], labels=[[-100, -100, 7, 8], [1, 2]])
    assert ex.num_targets.tolist() == [2, 1]
    assert ex.labels(0).tolist() == [IGNORE_INDEX, IGNORE_INDEX, 7, 8]
    sub = TokenizedExamples.from_ids([[1] * 9, [2] * 3, [3] * 9], max_length=4).subset([2, 1])
    assert sub.truncated_rows == [0] and sub.lengths.tolist() == [4, 3]
    assert sub.report() == {"truncated": 1, "without_loss_tokens": 0}
    with pytest.raises(ValueError, match="labels"):
        TokenizedExamples.from_ids([[1, 2]], labels=[[1]])


def test_bad_items():
    with pytest.raises(TypeError, match="Example 1"):
        encode(["ok", 3], toy_tokenizer())


def test_rows_encode_through_the_text_views():
    tok = toy_tokenizer()
    rows = [{"prompt": "P", "completion": "C"}]
    ex = encode_rows(rows, tok, completion_only=True)
    assert ex.input_ids[0].tolist() == [80, 67] and ex.target_mask[0].tolist() == [False, True]
    assert np.array_equal(encode_rows(["plain"], tok).lengths, [5])
