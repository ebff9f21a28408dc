"""What every card of hf_select shares: one Jinja environment over ``templates/``, Hub URLs, card parsing.

- :func:`render_template` renders a template shipped in ``hf_select/hub/templates/`` (the dataset cost card, the
  model-card section of the trainer), with the number formatters of :mod:`hf_select.cost.formatting` as filters.
- :func:`hub_url` builds a link that follows ``HF_ENDPOINT`` (read through ``huggingface_hub``'s constants, so a
  private Hub or a mirror gets its own links).
- :func:`parse_card` reads a README with ``huggingface_hub``'s card classes (YAML header + body).

Example:
    >>> from hf_select.hub.render import parse_card
    >>> meta, body = parse_card("---\\nlicense: mit\\ntags:\\n- a---b\\n---\\n# Title\\n")
    >>> meta, body
    ({'license': 'mit', 'tags': ['a---b']}, '# Title\\n')
"""

from __future__ import annotations

from typing import Any

REPO_TYPES = ("model", "dataset", "space")
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def _environment() -> Any:
    import jinja2

    from ..cost.formatting import format_count, format_flops, format_seconds

    env = jinja2.Environment(loader=jinja2.PackageLoader("hf_select.hub", "templates"), autoescape=False,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(flops=format_flops, seconds=format_seconds, count=format_count, hub_url=hub_url)
    return env


def render_template(name: str, **context: Any) -> str:
    """Render ``templates/<name>`` with ``context`` (filters: ``flops``, ``seconds``, ``count``, ``hub_url``)."""
    return _environment().get_template(name).render(**context)


def hub_url(repo_id: str, repo_type: str = "dataset") -> str:
    """``<HF_ENDPOINT>/[datasets/|spaces/]<repo_id>``: the page of a repo on the Hub this process talks to.

    Example:
        >>> hub_url("me/sel").endswith("/datasets/me/sel")
        True
    """
    if repo_type not in REPO_TYPES:
        raise ValueError(f"repo_type={repo_type!r}: use one of {REPO_TYPES}.")
    from huggingface_hub import constants

    return f"{constants.ENDPOINT.rstrip('/')}/{_URL_PREFIX[repo_type]}{repo_id}"


def parse_card(text: str, repo_type: str = "dataset") -> tuple[dict[str, Any], str]:
    """``(metadata, body)`` of a README, parsed by ``huggingface_hub``'s card class for ``repo_type``.

    A README without a YAML header gives ``({}, text)``; a header that is not a mapping is a ``ValueError``.
    """
    from huggingface_hub import DatasetCard, ModelCard, RepoCard

    if not text.lstrip().startswith("---"):
        return {}, text
    card_class = {"dataset": DatasetCard, "model": ModelCard}.get(repo_type, RepoCard)
    try:
        card = card_class(text, ignore_metadata_errors=True)
    except ValueError as err:
        raise ValueError(f"The README's YAML header is not a mapping ({err}); fix or remove the header.") from None
    return card.data.to_dict(), card.text.lstrip("\n")
