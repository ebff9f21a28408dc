"""The build pipeline of the embedded pool: parse sources, make pairs, de-duplicate, cap domains, hold out targets.

Owns :class:`BuiltinPoolConfig` (what goes into the pool); called by
:func:`hf_select.data.builtin.build_builtin_pool`. Parsing may run in forked worker processes; results are merged in
file order, so the output does not depend on the worker count.

Example:
    >>> from hf_select.data._pool_build import dedupe
    >>> rows = [{"id": "a#summary", "question": "Q1", "answer": "Same  answer."},
    ...         {"id": "b#summary", "question": "Q2", "answer": "same answer."}]
    >>> [r["id"] for r in dedupe(rows)]
    ['a#summary']
"""

from __future__ import annotations

import importlib.metadata
import os
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from ..import_utils import package_version
from ._pairs import PARTS, PairOptions, entry_pairs

DEFAULT_TARGET_DOMAIN = "numpy"
# Packages present with hf_select's core dependencies (numpy, scipy, datasets and what datasets pulls in).
CORE_PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "datasets", "huggingface_hub", "fsspec", "jinja2", "click",
                 "anyio", "tqdm", "dateutil")
# Optional packages used when installed (the models/train/space/plots extras and common scientific packages).
OPTIONAL_PACKAGES = ("sympy", "torch", "transformers", "sklearn", "networkx", "matplotlib", "pydantic",
                     "sentence_transformers", "peft", "gradio", "accelerate", "trl", "aiohttp", "requests")

PYTHON_REFERENCE_DOMAIN = "python_reference"
COLUMNS = ("messages", "domain", "source", "id", "part")
# Distribution names of packages whose import name differs (for versions and licences).
DISTRIBUTION_NAMES = {"sklearn": "scikit-learn", "yaml": "pyyaml", "dateutil": "python-dateutil",
                      "huggingface_hub": "huggingface-hub", "sentence_transformers": "sentence-transformers"}


@dataclass
class BuiltinPoolConfig:
    """What goes into the embedded pool; every field but ``num_proc`` and ``chunk_size`` is part of the cache key."""

    packages: tuple[str, ...] = field(
        default=CORE_PACKAGES + OPTIONAL_PACKAGES,
        metadata={"help": "Candidate top-level packages, in priority order for de-duplication; missing ones are "
                          "skipped. Each installed package is one domain."})
    include_stdlib: bool = field(default=True, metadata={"help": "Add the standard library, one domain per area."})
    include_python_reference: bool = field(
        default=True, metadata={"help": "Add the language reference sections of pydoc_data.topics."})
    parts: tuple[str, ...] = field(
        default=PARTS, metadata={"help": f"Docstring parts turned into pairs, a subset of {PARTS}."})
    min_answer_chars: int = field(default=40, metadata={"help": "Drop answers shorter than this."})
    max_answer_chars: int = field(default=600, metadata={"help": "Cap on answer length (cut at a sentence/line)."})
    max_summary_paragraphs: int = field(default=2, metadata={"help": "Paragraphs of the description kept."})
    min_alpha_ratio: float = field(default=0.6, metadata={"help": "Minimum share of letters in a prose answer."})
    min_code_alpha_ratio: float = field(default=0.3, metadata={"help": "Minimum share of letters in an example."})
    min_domain_rows: int = field(default=100, metadata={"help": "Drop domains with fewer rows than this."})
    max_per_domain: int | None = field(
        default=5000, metadata={"help": "Seeded subsample of larger domains to this many rows (None: no cap)."})
    target_domains: tuple[str, ...] = field(
        default=(DEFAULT_TARGET_DOMAIN, "huggingface_hub", "stdlib.internet"),
        metadata={"help": "Domains for which a target task (validation + test) is held out of the pool."})
    target_validation_size: int = field(default=48, metadata={"help": "Validation rows per target domain."})
    target_test_size: int = field(default=200, metadata={"help": "Test rows per target domain."})
    seed: int = field(default=0, metadata={"help": "Seed of question templates, domain caps and target splits."})
    num_proc: int | None = field(
        default=None, metadata={"help": "Worker processes for parsing (None: up to 4 forked workers when no other "
                                        "thread runs, else serial; 1: serial). Not part of the cache key."})
    chunk_size: int = field(default=16, metadata={"help": "Files per worker task. Not part of the cache key."})

    def __post_init__(self) -> None:
        self.packages, self.parts, self.target_domains = tuple(self.packages), tuple(self.parts), \
            tuple(self.target_domains)
        bad = [p for p in self.parts if p not in PARTS]
        if bad or not self.parts:
            raise ValueError(f"parts={self.parts!r}: use a non-empty subset of {PARTS}.")
        for name in ("min_answer_chars", "max_answer_chars", "max_summary_paragraphs", "target_validation_size",
                     "target_test_size", "min_domain_rows"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r}: use a positive integer.")
        if self.max_per_domain is not None and self.max_per_domain < self.min_domain_rows:
            raise ValueError(f"max_per_domain={self.max_per_domain} is below min_domain_rows={self.min_domain_rows}.")
        if self.num_proc is not None and self.num_proc < 1:
            raise ValueError(f"num_proc={self.num_proc}: use None or a positive integer.")

    @classmethod
    def core_only(cls, **kwargs: Any) -> BuiltinPoolConfig:
        """A config reading only what hf_select's core dependencies install (faster build, same on every machine)."""
        return cls(packages=CORE_PACKAGES, **kwargs)

    def pair_options(self) -> PairOptions:
        return PairOptions(self.parts, self.min_answer_chars, self.max_answer_chars, self.max_summary_paragraphs,
                           self.min_alpha_ratio, self.min_code_alpha_ratio, self.seed)

    def key_fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("num_proc", "chunk_size")}


def distribution_version(package: str) -> str | None:
    """Installed version of the distribution providing import package ``package`` (``None``: not installed)."""
    if package_version(package) is None:
        return None
    try:
        return importlib.metadata.version(DISTRIBUTION_NAMES.get(package, package))
    except importlib.metadata.PackageNotFoundError:
        return package_version(package)


def _file_rows(task: tuple[str, str, str, PairOptions]) -> list[dict[str, str]]:
    """Rows of one source file (runs in worker processes)."""
    from ._doc_sources import entries_from_file

    path, module, domain, options = task
    entries = entries_from_file(path, module, domain)
    return [_row(entry, pair) for entry in entries for pair in entry_pairs(entry, options)]


def _row(entry, pair: dict[str, str]) -> dict[str, str]:
    return {"question": pair["question"], "answer": pair["answer"], "domain": entry.domain, "source": entry.source,
            "id": f"{entry.source}#{pair['part']}", "part": pair["part"]}


def _tasks(config: BuiltinPoolConfig) -> list[tuple[str, str, str, PairOptions]]:
    from ._doc_sources import iter_source_files, package_root, stdlib_area, stdlib_files

    options = config.pair_options()
    tasks = []
    if config.include_stdlib:
        tasks += [(p, m, stdlib_area(m.split(".")[0]), options) for p, m in stdlib_files()]
    for package in config.packages:
        root = package_root(package) if distribution_version(package) is not None else None
        if root is not None:
            tasks += [(p, m, package, options) for p, m in iter_source_files(root, package)]
    return tasks


def _auto_num_proc() -> int:
    """Parallel parsing only where it is safe without a ``__main__`` guard: ``fork`` available, no other threads."""
    import multiprocessing
    import threading

    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def _mp_context():
    """``fork`` where available (workers need not re-import the caller's ``__main__``), else ``spawn``."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def collect_rows(config: BuiltinPoolConfig) -> list[dict[str, str]]:
    """All candidate rows in a deterministic order (stdlib, language reference, packages in config order)."""
    from tqdm.auto import tqdm

    from ._doc_sources import pydoc_topic_entries

    tasks = _tasks(config)
    ref_rows = []
    if config.include_python_reference:
        options = config.pair_options()
        ref_rows = [_row(e, p) for e in pydoc_topic_entries(PYTHON_REFERENCE_DOMAIN) for p in entry_pairs(e, options)]
    n_stdlib = sum(1 for t in tasks if t[2].startswith("stdlib."))
    num_proc = config.num_proc or _auto_num_proc()
    executor = None
    results: Iterable[list[dict[str, str]]] = map(_file_rows, tasks)
    if num_proc > 1:
        from concurrent.futures import ProcessPoolExecutor

        executor = ProcessPoolExecutor(num_proc, mp_context=_mp_context())
        results = executor.map(_file_rows, tasks, chunksize=config.chunk_size)  # forks before tqdm starts a thread
    chunks: list[list[dict[str, str]]] = []
    try:
        with tqdm(total=len(tasks), desc="hf_select: building the embedded pool", unit="file") as bar:
            for rows in results:
                chunks.append(rows)
                bar.update()
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
    ordered = chunks[:n_stdlib] + [ref_rows] + chunks[n_stdlib:]
    return [row for chunk in ordered for row in chunk]


def dedupe(rows: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Keep the first row of each id, question and (whitespace/case-normalised) answer."""
    from ._docstrings import dedupe_key

    seen: set[tuple[str, str]] = set()
    out = []
    for row in rows:
        keys = [("id", row["id"]), ("q", row["question"]), ("a", dedupe_key(row["answer"]))]
        if any(k in seen for k in keys):
            continue
        seen.update(keys)
        out.append(row)
    return out


def rng(seed: int, *key: str):
    import numpy as np

    return np.random.default_rng([seed] + [zlib.crc32(k.encode()) for k in key])


def cap_domains(rows: list[dict[str, str]], config: BuiltinPoolConfig) -> list[dict[str, str]]:
    """Drop domains below ``min_domain_rows``; subsample domains above ``max_per_domain`` (seeded, order kept)."""
    by_domain: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_domain.setdefault(row["domain"], []).append(i)
    keep: list[int] = []
    for domain, idx in sorted(by_domain.items()):
        if len(idx) < config.min_domain_rows:
            continue
        if config.max_per_domain is not None and len(idx) > config.max_per_domain:
            idx = sorted(rng(config.seed, "cap", domain).choice(idx, config.max_per_domain, replace=False).tolist())
        keep.extend(idx)
    return [rows[i] for i in sorted(keep)]


def split_targets(rows: list[dict[str, str]], config: BuiltinPoolConfig):
    """Hold out ``validation`` + ``test`` rows (distinct sources) per target domain; the pool loses those sources."""
    target_rows: list[dict[str, str]] = []
    held_sources: set[str] = set()
    size = config.target_validation_size + config.target_test_size
    for domain in config.target_domains:
        by_source: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            if row["domain"] == domain:
                by_source.setdefault(row["source"], []).append(i)
        if len(by_source) < 2 * size:
            continue  # domain missing or too small to give up a target task
        sources = sorted(by_source)
        order = rng(config.seed, "target", domain).permutation(len(sources))[:size]
        for n, s in enumerate(order):
            src = sources[int(s)]
            candidates = by_source[src]
            row = rows[candidates[int(rng(config.seed, "part", src).integers(len(candidates)))]]
            split = "validation" if n < config.target_validation_size else "test"
            target_rows.append({**row, "split": split})
            held_sources.add(src)
    pool_rows = [r for r in rows if r["source"] not in held_sources]
    return pool_rows, target_rows


def to_table(rows: Sequence[dict[str, str]], extra: Sequence[str] = ()):
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    schema = pa.schema([("messages", pa.list_(message))] + [(c, pa.string()) for c in COLUMNS[1:] + tuple(extra)])
    data = {"messages": [[{"role": "user", "content": r["question"]}, {"role": "assistant", "content": r["answer"]}]
                         for r in rows]}
    for column in COLUMNS[1:] + tuple(extra):
        data[column] = [r[column] for r in rows]
    return pa.table(data, schema=schema)


def licence_of(package: str) -> str:
    """The licence an installed distribution declares (SPDX expression, ``License`` field or trove classifier)."""
    try:
        meta = importlib.metadata.metadata(DISTRIBUTION_NAMES.get(package, package))
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
    if meta.get("License-Expression"):
        return meta["License-Expression"]
    classifiers = [c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    text = (meta.get("License") or "").strip()
    return text if text and len(text) < 60 and "\n" not in text else ", ".join(classifiers) or "see package"


