"""Kernel tests run in the Triton CPU interpreter: ``TRITON_INTERPRET=1`` is set in ``tests/conftest.py``, before
any test module can import triton (peft and transformers do)."""

import os

assert os.environ.get("TRITON_INTERPRET") == "1", "tests/conftest.py must set TRITON_INTERPRET=1 first"
