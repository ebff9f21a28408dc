"""Run Triton kernels in the CPU interpreter: TRITON_INTERPRET must be set before any kernel is decorated."""

import os

os.environ["TRITON_INTERPRET"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
