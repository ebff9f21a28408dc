"""Licence fields of the cost card, checked against the Hub's dataset-card spec, and the embedded pool's licence note.

The Hub's dataset card takes ``license:`` as a Hub licence id (e.g. ``apache-2.0``, ``unknown``). ``license: other``
needs ``license_name`` (an id for the custom licence) and ``license_link`` (``LICENSE``/``LICENSE.md`` in the repo or
a URL); :func:`license_metadata` refuses it without them.

Rows of the embedded pool (``hf_select.load_builtin_pool()``) are docstrings of installed Python packages: each row is
covered by the licence of its package. :func:`package_licences` lists, for the selected rows, each package, its row
count and the licence its distribution declares, for the card's "Licensing" section.

Example:
    >>> license_metadata("apache-2.0")
    {'license': 'apache-2.0'}
    >>> license_metadata("other", license_name="my-licence-1.0", license_link="LICENSE.md")["license_name"]
    'my-licence-1.0'
    >>> license_metadata("other")
    Traceback (most recent call last):
    ...
    ValueError: license='other' needs license_name (an id for the licence, e.g. 'my-licence-1.0') and license_link ...
"""

from __future__ import annotations

from collections import Counter
from typing import Any

OTHER = "other"
PYTHON = "python"
PYTHON_LICENCE = "PSF-2.0"
STDLIB_DOMAIN_PREFIX = "stdlib."
PYTHON_REFERENCE_DOMAIN = "python_reference"


def license_metadata(license: str, *, license_name: str | None = None,
                     license_link: str | None = None) -> dict[str, str]:
    """The card's licence keys: ``license``, plus ``license_name`` / ``license_link`` (required for ``other``)."""
    if not isinstance(license, str) or not license:
        raise ValueError(f"license={license!r} must be a Hub licence id such as 'apache-2.0', 'mit' or 'unknown'.")
    meta = {"license": license}
    if license == OTHER:
        if not license_name or not license_link:
            raise ValueError("license='other' needs license_name (an id for the licence, e.g. 'my-licence-1.0') and "
                             "license_link ('LICENSE.md' in the repo or a URL), as the Hub's dataset card spec asks; "
                             "or use a Hub licence id (https://hf.co/docs/hub/repositories-licenses).")
        meta.update(license_name=license_name, license_link=license_link)
    elif license_name or license_link:
        raise ValueError(f"license_name / license_link apply only to license='other', not license={license!r}.")
    return meta


def package_of(domain: str) -> str:
    """The package (import name) an embedded-pool row comes from, from its ``domain`` (stdlib rows: ``python``)."""
    if domain.startswith(STDLIB_DOMAIN_PREFIX) or domain == PYTHON_REFERENCE_DOMAIN:
        return PYTHON
    return domain


def _licence(package: str) -> str:
    if package == PYTHON:
        return PYTHON_LICENCE
    try:
        from ..data._pool_build import licence_of
    except ImportError:  # pragma: no cover - the pool builder moved
        return "see the package's metadata"
    return licence_of(package)


def package_licences(domains: list[str]) -> list[dict[str, Any]]:
    """``[{"package", "rows", "licence"}]`` for embedded-pool rows of these domains, most rows first."""
    counts = Counter(package_of(d) for d in domains)
    return [{"package": p, "rows": n, "licence": _licence(p)}
            for p, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
