"""The model-based scoring engine behind the perplexity, IFD, CoLoR-Filter and LESS selectors.

Modules (each imported on its own; nothing heavy is loaded by importing this package):

- :mod:`.models`: offline model / tokenizer loading, the SmolLM2 local copy, ``tiny_llama`` for tests, fingerprints.
- :mod:`.batching`: tokenisation with truncation reports and completion-only masks; bucketed and packed batches.
- :mod:`.nll`: per-token NLL with a chunked LM head (no full-vocabulary fp32 logits); segment reductions.
- :mod:`.dispatch`: attention kernel, batching mode and NLL backend per device.
- :mod:`.engine`: the scoring loop (``score_nll``).
- :mod:`.compiled`: the CPU fast path (``torch.compile`` of the decoder and of the NLL chunk, ``compile="auto"``).
- :mod:`.cache`: per-shard parquet cache with checksums (resume after a kill).
- :mod:`.distributed`: shards across ``torch.distributed`` ranks, gathered on every rank.
- :mod:`.pipeline`: texts in, per-example NLL out (cache + ranks); what selectors call.
- :mod:`.finetune`: the one LoRA trainer (LESS warm-up, target fine-tunes) and the exact LoRA parameter count.
- :mod:`.encoded`: token ids + labels of examples and their batches for gradient passes.
- :mod:`.gradients`, :mod:`.projection`, :mod:`.triton_nll`: LESS gradient features and the Triton kernel loader.

Example:
    >>> import sys, hf_select.scoring
    >>> "torch" in sys.modules or "hf_select.scoring.engine" not in sys.modules
    True
"""
