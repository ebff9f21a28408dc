"""Selectors behind one registry: ``get_selector(name, **options)``, ``list_selectors()``, ``@register_selector``."""

from .base import (
    BUILTIN_SELECTORS,
    Selector,
    SelectorConfig,
    get_selector,
    get_selector_class,
    list_selectors,
    register_selector,
)

__all__ = [
    "BUILTIN_SELECTORS",
    "Selector",
    "SelectorConfig",
    "get_selector",
    "get_selector_class",
    "list_selectors",
    "register_selector",
]
