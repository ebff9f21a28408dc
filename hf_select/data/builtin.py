"""The embedded pool and target task: real human-written text that every machine with hf_select already has.

Docstrings of installed packages (read with ``ast``, never imported), of the standard library and the sections of
the Python language reference in ``pydoc_data.topics`` become instruction pairs in TRL's conversational format::

    {"messages": [{"role": "user", "content": "What does `numpy.sum` do?"},
                  {"role": "assistant", "content": "Sum of array elements over a given axis."}],
     "domain": "numpy", "source": "numpy._core.fromnumeric.sum", "id": "numpy._core.fromnumeric.sum#summary",
     "part": "summary"}

One domain per top-level package (the standard library split by area). For each domain in
``BuiltinPoolConfig.target_domains`` a target task is held out: ``validation`` (a few dozen rows) and ``test`` rows,
whose documented objects never appear in the pool. The build (tens of seconds) runs once; the result is cached as
parquet under ``$HF_SELECT_CACHE`` (default ``~/.cache/hf_select``), keyed by the builder version, the Python and
package versions and the config. See ``docs/builtin_pool.md`` for contents and licences.

Example:
    >>> from hf_select.data.builtin import pool_summary
    >>> pool_summary([{"domain": "numpy"}, {"domain": "scipy"}, {"domain": "numpy"}])
    {'numpy': 2, 'scipy': 1}
    >>> from hf_select.data.builtin import load_builtin_pool, load_builtin_target
    >>> pool = load_builtin_pool(max_rows=2000)                   # doctest: +SKIP
    >>> target = load_builtin_target("validation", domain="numpy")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..atomic import atomic_dir
from ._pool_build import (COLUMNS, CORE_PACKAGES, DEFAULT_TARGET_DOMAIN, OPTIONAL_PACKAGES, PYTHON_REFERENCE_DOMAIN,
                          BuiltinPoolConfig, rng)

BUILDER_VERSION = "1"
BUILDER_MODULES = ("_docstrings.py", "_doc_sources.py", "_pairs.py", "_pool_build.py")
CACHE_ENV = "HF_SELECT_CACHE"
SPLITS = ("validation", "test")
__all__ = ["BuiltinPoolConfig", "CORE_PACKAGES", "COLUMNS", "DEFAULT_TARGET_DOMAIN", "OPTIONAL_PACKAGES",
           "PYTHON_REFERENCE_DOMAIN", "build_builtin_pool", "builtin_pool_info", "cache_key", "ensure_builtin_pool",
           "load_builtin_pool", "load_builtin_target", "pool_summary"]


def source_versions(config: BuiltinPoolConfig) -> dict[str, str | None]:
    """Versions of everything the build reads (``None``: not installed); part of the cache key and the metadata."""
    from ._pool_build import distribution_version

    versions: dict[str, str | None] = {p: distribution_version(p) for p in config.packages}
    if config.include_stdlib or config.include_python_reference:
        versions["python"] = platform.python_version()
    return versions


def builder_fingerprint() -> str:
    """``BUILDER_VERSION`` plus a hash of the builder's own source, so any code change invalidates old caches."""
    digest = hashlib.sha256(BUILDER_VERSION.encode())
    here = os.path.dirname(os.path.abspath(__file__))
    for name in BUILDER_MODULES:
        try:
            with open(os.path.join(here, name), "rb") as fh:
                digest.update(fh.read())
        except OSError:  # e.g. a zipped install: fall back to BUILDER_VERSION alone
            digest.update(name.encode())
    return digest.hexdigest()[:16]


def cache_key(config: BuiltinPoolConfig) -> str:
    """Folder name of a build: hash of the builder, the versions of what it reads, and the config."""
    payload = {"builder": builder_fingerprint(), "versions": source_versions(config), "config": config.key_fields()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=list).encode()).hexdigest()[:16]


def cache_root(cache_dir: str | os.PathLike | None = None) -> str:
    """``cache_dir``, else ``$HF_SELECT_CACHE``, else ``~/.cache/hf_select``."""
    root = cache_dir or os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "hf_select")
    return os.fspath(root)


def build_builtin_pool(config: BuiltinPoolConfig, path: str | os.PathLike) -> dict[str, Any]:
    """Build the pool and targets into folder ``path`` (through :func:`hf_select.atomic.atomic_dir`); returns metadata.

    A concurrent build of the same ``path`` that finished first wins: this one keeps (and returns) its result.
    """
    import pyarrow.parquet as pq

    from ._pool_build import cap_domains, collect_rows, dedupe, licence_of, split_targets, to_table

    start = time.perf_counter()
    rows = split_targets(cap_domains(dedupe(collect_rows(config)), config), config)
    pool_rows, target_rows = rows
    if not pool_rows:
        raise ValueError("The embedded pool is empty: none of the configured sources is installed or passes the "
                         f"filters (packages={config.packages}, include_stdlib={config.include_stdlib}).")
    versions = source_versions(config)
    counts = Counter(r["domain"] for r in pool_rows)
    meta = {
        "builder_version": BUILDER_VERSION, "builder": builder_fingerprint(), "key": cache_key(config),
        "config": config.key_fields(),
        "versions": versions, "build_seconds": round(time.perf_counter() - start, 2), "pool_rows": len(pool_rows),
        "domains": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        "licences": {p: licence_of(p) for p, v in versions.items() if v is not None and p != "python"},
        "targets": {d: dict(Counter(r["split"] for r in target_rows if r["domain"] == d))
                    for d in sorted({r["domain"] for r in target_rows})},
    }
    if versions.get("python"):
        meta["licences"]["python"] = "PSF-2.0"
    path = os.fspath(path)
    try:
        with atomic_dir(path, kind="builtin-pool", argument="embedded pool cache") as tmp:
            pq.write_table(to_table(pool_rows), os.path.join(tmp, "pool.parquet"))
            pq.write_table(to_table(target_rows, extra=("split",)), os.path.join(tmp, "target.parquet"))
            with open(os.path.join(tmp, "meta.json"), "w") as fh:
                json.dump(meta, fh, indent=2, sort_keys=True, default=list)
    except OSError:  # FileExistsError included: another process finished the same build first, keep theirs
        if not os.path.exists(os.path.join(path, "meta.json")):
            raise
        with open(os.path.join(path, "meta.json")) as fh:
            return json.load(fh)
    return meta


def ensure_builtin_pool(config: BuiltinPoolConfig | None = None, cache_dir: str | os.PathLike | None = None) -> str:
    """The cache folder of ``config``'s build, building it first when it is missing."""
    config = config or BuiltinPoolConfig()
    path = os.path.join(cache_root(cache_dir), "builtin_pool", cache_key(config))
    if not os.path.exists(os.path.join(path, "meta.json")):
        from filelock import FileLock

        os.makedirs(os.path.dirname(path), exist_ok=True)
        with FileLock(path + ".lock"):  # concurrent first uses build once; the others wait and read it
            if not os.path.exists(os.path.join(path, "meta.json")):
                build_builtin_pool(config, path)
    return path


def builtin_pool_info(config: BuiltinPoolConfig | None = None, cache_dir: str | os.PathLike | None = None) -> dict:
    """Metadata of the build: versions and licences of the sources, rows per domain, target sizes, build seconds."""
    with open(os.path.join(ensure_builtin_pool(config, cache_dir), "meta.json")) as fh:
        return json.load(fh)


def _read(path: str, fingerprint: str):
    import datasets
    import pyarrow.parquet as pq
    from datasets.table import InMemoryTable

    return datasets.Dataset(InMemoryTable(pq.read_table(path)), fingerprint=fingerprint)


def _stratified(domains: list[str], max_rows: int, seed: int) -> list[int]:
    """Row indices of a seeded subsample of ``max_rows`` rows, domain shares kept (largest remainder), order kept."""
    by_domain: dict[str, list[int]] = {}
    for i, d in enumerate(domains):
        by_domain.setdefault(d, []).append(i)
    n = len(domains)
    quotas = {d: max_rows * len(idx) / n for d, idx in by_domain.items()}
    alloc = {d: int(q) for d, q in quotas.items()}
    for d in sorted(quotas, key=lambda d: (-(quotas[d] - alloc[d]), d))[: max_rows - sum(alloc.values())]:
        alloc[d] += 1
    keep: list[int] = []
    for d in sorted(by_domain):
        idx = by_domain[d]
        keep.extend(rng(seed, "rows", d).choice(idx, alloc[d], replace=False).tolist() if alloc[d] < len(idx) else idx)
    return sorted(keep)


def load_builtin_pool(*, max_rows: int | None = None, domains: Sequence[str] | None = None, seed: int = 0,
                      cache_dir: str | os.PathLike | None = None, config: BuiltinPoolConfig | None = None):
    """The embedded pool as a ``datasets.Dataset`` (columns ``messages``, ``domain``, ``source``, ``id``, ``part``).

    Args:
        max_rows: keep a seeded subsample of this many rows, stratified by domain (for fast tests and sweeps).
        domains: keep only these domains (see :func:`pool_summary` of the full pool for the names).
        seed: seed of the ``max_rows`` subsample.
        cache_dir: cache folder (default ``$HF_SELECT_CACHE`` or ``~/.cache/hf_select``).
        config: what to build (default ``BuiltinPoolConfig()``).
    """
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1):
        raise ValueError(f"max_rows={max_rows!r}: use None (all rows) or a positive integer.")
    if isinstance(domains, str):
        raise TypeError(f"domains={domains!r} is a string; pass a list of domain names, e.g. [{domains!r}].")
    path = ensure_builtin_pool(config, cache_dir)
    fingerprint = f"hf_select-builtin-{os.path.basename(path)}-pool"
    ds = _read(os.path.join(path, "pool.parquet"), fingerprint)
    if domains is not None:
        wanted = set(domains)
        available = sorted(set(ds["domain"]))
        if not wanted or wanted - set(available):
            raise ValueError(f"domains={list(domains)!r}: give a non-empty list of known domains; the available "
                             f"domains are {available}.")
        fingerprint = _fp(fingerprint, "domains", *sorted(wanted))
        ds = ds.select([i for i, d in enumerate(ds["domain"]) if d in wanted], new_fingerprint=fingerprint)
    if max_rows is not None and max_rows < ds.num_rows:
        keep = _stratified(list(ds["domain"]), max_rows, seed)
        ds = ds.select(keep, new_fingerprint=_fp(fingerprint, max_rows, seed))
    return ds


def _fp(*parts: object) -> str:  # keeps the "hf_select-builtin-" prefix that cards use to recognise the pool
    return "hf_select-builtin-" + hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:16]


def load_builtin_target(split: str = "validation", domain: str = DEFAULT_TARGET_DOMAIN, *,
                        cache_dir: str | os.PathLike | None = None, config: BuiltinPoolConfig | None = None):
    """The target task of ``domain``: ``"validation"`` (few-shot target for selection) or ``"test"`` (held out).

    Same columns as :func:`load_builtin_pool`; the documented objects of these rows are absent from the pool.
    """
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"split={split!r}: use one of {SPLITS}.")
    path = ensure_builtin_pool(config, cache_dir)
    ds = _read(os.path.join(path, "target.parquet"), f"hf_select-builtin-{os.path.basename(path)}-target")
    available = sorted(set(ds["domain"]))
    if domain not in available:
        raise ValueError(f"domain={domain!r} has no target task in this build; available: {available}. Add it to "
                         "BuiltinPoolConfig(target_domains=...) and pass that config.")
    keep = [i for i, (d, s) in enumerate(zip(ds["domain"], ds["split"], strict=True)) if d == domain and s == split]
    return ds.select(keep, new_fingerprint=_fp(os.path.basename(path), domain, split)).remove_columns("split")


def pool_summary(dataset: Any) -> dict[str, int]:
    """Rows per domain of a pool (a Dataset or a list of rows with a ``domain``), largest first."""
    domains = list(dataset["domain"]) if hasattr(dataset, "column_names") else [row["domain"] for row in dataset]
    return dict(sorted(Counter(domains).items(), key=lambda kv: (-kv[1], kv[0])))
