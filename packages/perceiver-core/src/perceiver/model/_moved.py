"""Where the names of perceiver-io 0.11's ``perceiver.model.*`` modules went.

perceiver-io 0.11 kept its Lightning wrappers (``Lit*``) and 🤗 wrappers (``Perceiver*``,
``convert_*``) next to the core models; here they live in perceiver-lightning
(``perceiver.lightning.*``) and perceiver-hf (``perceiver.hf.*``), and perceiver-core imports
neither. An old import fails with an ``ImportError`` that names the new location and the
package to install:

- ``from perceiver.model.text.mlm import LitMaskedLanguageModel``: the task modules' module-level
  ``__getattr__`` calls :func:`moved_name`;
- ``import perceiver.model.text.mlm.lightning`` (its subpackages ``backend``, ``lightning``,
  ``huggingface`` ...): :class:`MovedModuleFinder`, appended to ``sys.meta_path`` when
  ``perceiver.model`` is imported, answers only for the module names in :data:`MOVED_MODULES`.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any, NoReturn

__all__ = ["MOVED_MODULES", "MOVED_NAMES", "MovedModuleFinder", "install_finder", "moved_name"]

_LIT = "perceiver.lightning"
_HF = "perceiver.hf"


def _names(new_module: str, *names: str, **renamed: str) -> dict[str, tuple[str, str]]:
    table = {name: (new_module, name) for name in names}
    table.update({old: (new_module, new) for old, new in renamed.items()})
    return table


# old module -> {old name: (new module, new name)}
MOVED_NAMES: dict[str, dict[str, tuple[str, str]]] = {
    "perceiver.model.text.mlm": {
        **_names(f"{_LIT}.text.mlm", "LitMaskedLanguageModel"),
        **_names(
            f"{_HF}.text.mlm",
            "PerceiverMaskedLanguageModel",
            "PerceiverMaskedLanguageModelConfig",
            "convert_checkpoint",
            "convert_config",
            "convert_model",
        ),
    },
    "perceiver.model.text.classifier": {
        **_names(f"{_LIT}.text.classifier", "LitTextClassifier"),
        **_names(
            f"{_HF}.text.classifier",
            "PerceiverTextClassifier",
            "PerceiverTextClassifierConfig",
            "convert_checkpoint",
            convert_imdb_classifier_checkpoint="convert_checkpoint",
        ),
    },
    "perceiver.model.text.clm": {
        **_names(f"{_LIT}.text.clm", "LitCausalLanguageModel"),
        **_names(
            f"{_HF}.text.clm",
            "PerceiverCausalLanguageModel",
            "PerceiverCausalLanguageModelConfig",
            "convert_checkpoint",
        ),
    },
    "perceiver.model.audio.symbolic": {
        **_names(f"{_LIT}.audio.symbolic", "LitSymbolicAudioModel"),
        **_names(
            f"{_HF}.audio.symbolic",
            "PerceiverSymbolicAudioModel",
            "PerceiverSymbolicAudioModelConfig",
            "convert_checkpoint",
        ),
    },
    "perceiver.model.vision.image_classifier": {
        **_names(f"{_LIT}.vision.image_classifier", "LitImageClassifier"),
        **_names(
            f"{_HF}.vision.image_classifier",
            "PerceiverImageClassifier",
            "PerceiverImageClassifierConfig",
            "convert_checkpoint",
            "convert_config",
            "convert_model",
            convert_mnist_classifier_checkpoint="convert_checkpoint",
            PerceiverImageClassifierInputProcessor="image_processor",
        ),
    },
    "perceiver.model.vision.optical_flow": {
        **_names(
            f"{_HF}.vision.optical_flow",
            "OpticalFlowPerceiver",
            "OpticalFlowPerceiverConfig",
            "OpticalFlowPipeline",
            "convert_config",
            "convert_model",
        ),
    },
}

# old module -> new module; the package to install follows from the new module's name
MOVED_MODULES: dict[str, str] = {
    "perceiver.model.core.lightning": _LIT,
    "perceiver.model.core.huggingface": _HF,
    "perceiver.model.core.modules": "perceiver.model.core",
    "perceiver.model.core.utils": "perceiver.model.core",
    "perceiver.model.text.common": "perceiver.model.text.mlm",
    "perceiver.model.text.common.backend": "perceiver.model.text.mlm",
    "perceiver.model.text.common.huggingface": f"{_HF}.text.mlm",
    "perceiver.model.text.mlm.utils": f"{_HF}.text.mlm",
}
for _old in MOVED_NAMES:
    MOVED_MODULES[f"{_old}.backend"] = _old
    for _module in sorted({module for module, _ in MOVED_NAMES[_old].values()}):
        MOVED_MODULES[f"{_old}.{'lightning' if _module.startswith(_LIT) else 'huggingface'}"] = _module

_HINTS = {
    "perceiver.model.core.lightning": "use the task wrappers perceiver.lightning.<task path>.Lit*",
    "perceiver.model.core.modules": "the building blocks are exported by perceiver.model.core",
    "perceiver.model.core.utils": "the building blocks are exported by perceiver.model.core",
    "perceiver.model.text.common": "TextEncoderConfig is exported by perceiver.model.text.mlm",
    "perceiver.model.text.common.backend": "TextEncoderConfig is exported by perceiver.model.text.mlm",
    "perceiver.model.text.mlm.utils": (
        "MaskFiller is replaced by transformers' fill-mask pipeline on a PerceiverMaskedLanguageModel"
    ),
}


def _package(module: str) -> str | None:
    if module.startswith(_LIT):
        return "perceiver-lightning"
    if module.startswith(_HF):
        return "perceiver-hf"
    return None


def moved_name(module: str, name: str) -> NoReturn:
    """The module ``__getattr__`` of perceiver-core's task modules: ImportError for a moved name,
    AttributeError for any other."""
    entry = MOVED_NAMES.get(module, {}).get(name)
    if entry is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    new_module, new_name = entry
    renamed = f" (renamed to {new_name})" if new_name != name else ""
    raise ImportError(
        f"{name}{renamed} has moved from {module} (perceiver-io 0.11) to {new_module} in the package "
        f"{_package(new_module)}: pip install {_package(new_module)} and use "
        f"`from {new_module} import {new_name}` (see the migration guide, docs/migrating.md)",
        name=module,
    )


def _module_message(name: str) -> str:
    new_module = MOVED_MODULES[name]
    package = _package(new_module)
    where = f"{new_module} in the package {package} (pip install {package})" if package else new_module
    hint = _HINTS.get(name)
    return (
        f"the module {name} of perceiver-io 0.11 has moved: its contents are in {where}"
        f"{'; ' + hint if hint else ''} (see the migration guide, docs/migrating.md)"
    )


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Raises a ``ModuleNotFoundError`` that says where an old ``perceiver.model`` module went;
    finds nothing for any other name."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname in MOVED_MODULES:
            raise ModuleNotFoundError(_module_message(fullname), name=fullname)
        return None


def install_finder() -> None:
    """Append one :class:`MovedModuleFinder` to ``sys.meta_path`` (after the regular finders)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
