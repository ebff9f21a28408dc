"""The model-based scoring engine behind the perplexity, IFD, CoLoR-Filter and LESS selectors.

Modules (each imported on its own; nothing heavy is loaded by importing this package):

- :mod:`.loading`: the one place for model sources (folder, Hub id, object), device and dtype; tokenizers.
- :mod:`.assets`: offline SmolLM2 / MiniLM folders, the cache root. :mod:`.fingerprint`: cache identity of a model.
  :mod:`.models` re-exports the three (the stable import path).
- :mod:`.encoding`: the one encoding of examples (special tokens once, completion boundary, EOS once, truncation).
- :mod:`.batching`: bucketed / packed / single batch plans (first-fit decreasing) and the tensors of a forward pass.
- :mod:`.packing`: where packed rows are exact (allow-list + self-check).
- :mod:`.nll`: the one NLL: per-token NLL with a chunked LM head (no full-vocabulary fp32 logits), a model's NLL on a
  batch, segment reductions.
- :mod:`.dispatch`: attention kernel, batching mode and NLL backend per device.
- :mod:`.engine`: the scoring loop (``score_nll``).
- :mod:`.compiled`: the CPU fast path (``torch.compile`` of the decoder and of the NLL chunk, ``compile="auto"``).
- :mod:`.cache`: per-shard parquet cache with checksums (resume after a kill).
- :mod:`.distributed`: shards across ``torch.distributed`` ranks, gathered on every rank.
- :mod:`.pipeline`: texts in, per-example NLL out (cache + ranks); what selectors call.
- :mod:`.finetune`: the one LoRA trainer (LESS warm-up, target fine-tunes) and the exact LoRA parameter count.
- :mod:`.gradients`, :mod:`.projection`, :mod:`.triton_nll`: LESS gradient features and the Triton kernel loader
  (the kernel ships as package data in ``hf_select/kernels``).

Test models and tokenizers: :mod:`hf_select.testing`.

Example:
    >>> import sys, hf_select.scoring
    >>> "torch" in sys.modules or "hf_select.scoring.engine" not in sys.modules
    True
"""
