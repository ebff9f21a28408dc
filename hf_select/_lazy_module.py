"""A module whose attributes are imported on first access (the pattern of TRL's ``_lazy_module``).

``import hf_select`` therefore costs a few milliseconds and imports neither torch nor transformers;
``hf_select.select`` pulls in only what the selection path needs.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """Module that resolves the names of ``import_structure`` lazily.

    Args:
        name: the module's ``__name__``.
        module_file: the module's ``__file__``.
        import_structure: ``{"submodule": ["Name", ...]}``; each name is imported from ``name.submodule`` when first used.
        extra_objects: attributes available immediately (e.g. ``__version__``).
    """

    def __init__(
        self,
        name: str,
        module_file: str,
        import_structure: dict[str, list[str]],
        extra_objects: dict[str, Any] | None = None,
        module_spec: Any = None,
    ) -> None:
        super().__init__(name)
        self.__spec__ = module_spec
        self._name_to_module = {attr: mod for mod, attrs in import_structure.items() for attr in attrs}
        self._modules = set(import_structure)
        self.__all__ = sorted(set(self._name_to_module) | self._modules | set(extra_objects or {}))
        self.__file__ = module_file
        self.__path__ = [os.path.dirname(module_file)]
        for key, value in (extra_objects or {}).items():
            setattr(self, key, value)
        self._import_structure = import_structure

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.__all__))

    def __getattr__(self, name: str) -> Any:
        if name in self._name_to_module:
            value = getattr(self._get_module(self._name_to_module[name]), name)
        elif name in self._modules:
            value = self._get_module(name)
        else:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        setattr(self, name, value)
        return value

    def _get_module(self, module_name: str) -> ModuleType:
        return importlib.import_module("." + module_name, self.__name__)

    def __reduce__(self):
        """Pickle by name: unpickling imports the module (the same object as ``import hf_select`` gives)."""
        return (importlib.import_module, (self.__name__,))
