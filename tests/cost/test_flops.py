import json

import numpy as np
import pytest

from hf_select.cost import flops as F
from hf_select.import_utils import is_torch_available, is_transformers_available

# Tiny Llama-like shape: d=8, 2 heads of 4, 2 kv heads, d_ff=16, vocab 10, 2 layers.
TINY = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2,
        "num_key_value_heads": 2, "intermediate_size": 16, "vocab_size": 10, "tie_word_embeddings": True}
# Per layer: q,o 8*8 each, k,v 8*8 each -> 256; gated MLP 3*8*16 = 384 -> 640. Two layers 1280, LM head 10*8 = 80.
TINY_MATMUL = 2 * 640 + 80


def test_6n_forward_and_train_hand_computed():
    assert F.forward_flops(1e6, [10, 30]) == 2 * 1e6 * 40
    assert F.forward_flops(1e6, 40) == 2 * 1e6 * 40
    assert F.train_flops(1e6, [10, 30]) == 6 * 1e6 * 40
    assert F.train_flops(1e6, [10, 30], epochs=2.5) == 2.5 * 6 * 1e6 * 40


def test_detailed_packed_batch_uses_per_example_lengths():
    lengths = [3, 5, 8]  # packed into one 16-token row
    tokens = 16
    attention = 4 * 2 * 8 * (3 ** 2 + 5 ** 2 + 8 ** 2)  # 4 * n_layers * d_attn * sum L_i^2 = 6272
    expected = 2 * TINY_MATMUL * tokens + attention
    assert F.forward_flops(TINY, lengths, convention="detailed") == expected == 49792
    assert F.train_flops(TINY, lengths, convention="detailed") == 3 * expected
    # Not the packed length squared:
    packed_wrong = 2 * TINY_MATMUL * tokens + 4 * 2 * 8 * 16 ** 2
    assert F.forward_flops(TINY, lengths, convention="detailed") < packed_wrong
    # Packing does not change the count: the same examples one per row give the same FLOPs.
    assert F.forward_flops(TINY, [8, 5, 3], convention="detailed") == expected


def test_lengths_from_position_ids_of_packed_rows():
    pos = np.array([[0, 1, 2, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 7]])
    assert F.lengths_from_position_ids(pos) == [3, 5, 8]
    assert F.lengths_from_position_ids([[0, 1], [0, 1]]) == [2, 2]


def test_detailed_needs_shape_and_per_example_lengths():
    with pytest.raises(ValueError, match="per-example lengths"):
        F.forward_flops(TINY, 16, convention="detailed")
    with pytest.raises(ValueError, match="model shape"):
        F.forward_flops(1e6, [4, 4], convention="detailed")
    # With the shape given alongside a parameter count:
    got = F.forward_flops(1e6, [4, 4], convention="detailed", n_layers=2, d_model=8)
    assert got == 2 * 1e6 * 8 + 4 * 2 * 8 * 32
    with pytest.raises(ValueError, match="convention"):
        F.forward_flops(1e6, [4], convention="7N")
    with pytest.raises(ValueError, match="non-negative"):
        F.forward_flops(1e6, [4, -1])
    with pytest.raises(ValueError, match="positive"):
        F.forward_flops(0, [4])


def test_count_params_hand_computed_and_kaplan():
    # Tied: layers 2 * (640 + 2 norms * 8) + final norm 8 + embedding 80.
    assert F.count_params_from_config(TINY) == 2 * (640 + 16) + 8 + 80
    untied = {**TINY, "tie_word_embeddings": False}
    assert F.count_params_from_config(untied) == 2 * (640 + 16) + 8 + 160
    # Kaplan non-embedding count for a plain (GPT-2-like) MLP: 2 * n_layer * d * (2 * d_attn + d_ff).
    gpt2 = {"model_type": "gpt2", "n_layer": 3, "n_embd": 16, "n_head": 4, "n_inner": None, "vocab_size": 50,
            "activation_function": "gelu_new"}
    assert F.count_params_from_config(gpt2, include_embeddings=False) == 2 * 3 * 16 * (2 * 16 + 64)


@pytest.mark.skipif(not (is_torch_available() and is_transformers_available()), reason="needs torch+transformers")
@pytest.mark.parametrize("tied,kv", [(True, 2), (False, 1), (True, 4)])
def test_count_params_matches_transformers_llama(tied, kv):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=kv, vocab_size=64, tie_word_embeddings=tied)
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg)
    assert F.count_params_from_config(cfg) == model.num_parameters()
    assert F.model_spec(model).n_params == model.num_parameters()  # a model object is read through its config


def test_config_from_path_and_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    n = F.count_params_from_config(TINY)
    assert F.count_params_from_config(tmp_path) == n
    assert F.count_params_from_config(str(tmp_path / "config.json")) == n
    assert F.forward_flops(str(tmp_path), 7) == 2 * n * 7
    with pytest.raises(FileNotFoundError):
        F.count_params_from_config(tmp_path / "missing")
    with pytest.raises(ValueError, match="lacks"):
        F.count_params_from_config({"hidden_size": 8})


def test_lora_train_flops():
    # Frozen base: 2N forward + 2N backward (activation gradients) + 6 N_lora per token.
    assert F.lora_train_flops(1e6, [10, 10], lora_params=1e3) == (4e6 + 6e3) * 20
    assert F.lora_train_flops(1e6, 20, lora_params=1e3, epochs=2) == 2 * (4e6 + 6e3) * 20
    got = F.lora_train_flops(TINY, [3, 5], lora_params=10, convention="detailed")
    assert got == (4 * TINY_MATMUL + 60) * 8 + 3 * 4 * 2 * 8 * 34
    with pytest.raises(ValueError, match="lora_params"):
        F.lora_train_flops(1e6, 20, lora_params=-1)


def test_training_flops_follows_the_one_convention_setting():
    # full: 6N per token whatever is trained (the paper's, also for its LoRA runs); lora: 4N + 6L.
    assert F.training_flops(1e6, [10, 10], lora_params=1e3) == 6e6 * 20 == F.train_flops(1e6, 20)
    assert F.training_flops(1e6, [10, 10], train_convention="lora", lora_params=1e3) == (4e6 + 6e3) * 20
    assert F.training_flops(TINY, [3, 5], train_convention="lora", lora_params=10, convention="detailed", epochs=2) \
        == 2 * F.lora_train_flops(TINY, [3, 5], lora_params=10, convention="detailed")
    with pytest.raises(ValueError, match="needs L"):
        F.training_flops(1e6, 20, train_convention="lora")
    with pytest.raises(ValueError, match="'full'.*'lora'"):
        F.training_flops(1e6, 20, train_convention="LoRA")


def test_selection_costs_perplexity_embedding_bm25():
    [ppl] = F.perplexity_selection_flops(1e6, [10, 20])
    assert ppl.flops == 2e6 * 30 and ppl.tokens == 30
    enc = F.embedding_selection_flops(2e5, [10, 20], [5])
    assert [s.name for s in enc] == ["encode_pool", "encode_target"]
    assert [s.flops for s in enc] == [2 * 2e5 * 30, 2 * 2e5 * 5]
    # Detailed: an encoder has no LM head.
    enc_d = F.embedding_selection_flops(TINY, [3, 5], convention="detailed")
    assert enc_d[0].flops == 2 * (TINY_MATMUL - 80) * 8 + 4 * 2 * 8 * 34
    assert F.bm25_selection_flops([10, 20])[0].flops == 0.0
    assert F.dsir_selection_flops(30)[0].flops == 0.0


def test_less_pipeline_itemised_hand_computed():
    n, lora, proj = 1e6, 1e3, 16
    pool, target = [10, 30], [5]
    stages = F.less_pipeline_flops(n, pool, target, lora_params=lora, proj_dim=proj, warmup_fraction=0.5,
                                   warmup_epochs=2, n_checkpoints=3, train_convention="lora")
    names = [s.name for s in stages]
    assert names[0] == "warmup_train" and names[-1] == "influence"
    assert names.count("checkpoint2/pool_gradients") == 1 and len(stages) == 1 + 3 * 3 + 1
    per_token = 4 * n + 6 * lora
    by = {s.name: s.flops for s in stages}
    assert by["warmup_train"] == 2 * per_token * 0.5 * 40
    assert by["checkpoint1/pool_gradients"] == per_token * 40
    assert by["checkpoint3/target_gradients"] == per_token * 5
    assert by["checkpoint1/projection"] == 2 * lora * proj * 3
    assert by["influence"] == 2 * 2 * 1 * proj * 3
    total = sum(by.values())
    assert total == pytest.approx(2 * per_token * 20 + 3 * (per_token * 45 + 2 * lora * proj * 3) + 2 * 2 * proj * 3)
    # Totals need the example counts:
    with pytest.raises(ValueError, match="n_pool"):
        F.less_pipeline_flops(n, 40, 5, lora_params=lora)
    by_totals = F.less_pipeline_flops(n, 40, 5, lora_params=lora, proj_dim=proj, warmup_fraction=0.5,
                                      warmup_epochs=2, n_checkpoints=3, n_pool=2, n_target=1, train_convention="lora")
    assert sum(s.flops for s in by_totals) == pytest.approx(total)


def test_less_pipeline_convention_projection_checkpoints_and_warmup_rows():
    n, lora, proj = 1e6, 1e3, 16
    pool, target = [10, 30], [5]
    kw = {"lora_params": lora, "proj_dim": proj, "warmup_fraction": 0.5, "warmup_epochs": 2}
    by = {s.name: s for s in F.less_pipeline_flops(n, pool, target, **kw)}       # default: full, 6N per token
    assert by["checkpoint1/pool_gradients"].flops == 6 * n * 40
    assert by["warmup_train"].flops == 2 * 6 * n * 0.5 * 40
    assert by["warmup_train"].detail["train_convention"] == "full"
    assert "checkpoint2/pool_gradients" in by and "checkpoint3/pool_gradients" not in by  # one per warm-up epoch
    assert by["checkpoint1/projection"].flops == 2 * lora * proj * 3 and by["checkpoint1/projection"].detail["kind"] \
        == "rademacher"
    sparse = {s.name: s for s in F.less_pipeline_flops(n, pool, target, projection_kind="sparse_sign",
                                                      projection_nnz=4, **kw)}
    assert sparse["checkpoint1/projection"].flops == 2 * lora * 4 * 3
    assert sparse["influence"].flops == by["influence"].flops == 2 * 2 * 1 * proj * 2  # cosines stay proj_dim-wide
    # The warm-up examples really drawn, when given, replace the expected fraction.
    drawn = {s.name: s for s in F.less_pipeline_flops(n, pool, target, warmup_lengths=[30], **kw)}
    assert drawn["warmup_train"].flops == 2 * 6 * n * 30 and drawn["warmup_train"].tokens == 60
    with pytest.raises(ValueError, match="projection kind"):
        F.less_pipeline_flops(n, pool, target, projection_kind="dense", **kw)
    with pytest.raises(ValueError, match="n_checkpoints"):
        F.less_pipeline_flops(n, pool, target, n_checkpoints=0, **kw)


def test_less_versus_perplexity_ratio_stated_in_the_docstring():
    # The paper's settings, 512-token examples, L = 2% of N, targets negligible: the ratios the docstring states.
    pool = [512] * 100
    ppl = sum(s.flops for s in F.perplexity_selection_flops(1.0, pool))
    ratio = {(kind, conv): sum(s.flops for s in F.less_pipeline_flops(1.0, pool, [], lora_params=0.02, n_target=0,
                                                                    projection_kind=kind, train_convention=conv)) / ppl
             for kind in ("rademacher", "sparse_sign") for conv in ("full", "lora")}
    assert [round(ratio[k], 1) for k in sorted(ratio)] == [13.9, 9.9, 12.6, 8.7]
    doc = " ".join(F.less_pipeline_flops.__doc__.split())
    for text in ("13.9x", "12.6x", "9.9x", "8.7x", "5.4x"):
        assert text in doc
