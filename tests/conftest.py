"""Shared test setup: offline, quiet, deterministic."""

import os

# Triton kernels run in the CPU interpreter. It must be set before triton is first imported anywhere (peft and
# transformers import it), since triton's own @jit helpers are built at import time in one mode or the other.
os.environ["TRITON_INTERPRET"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
