"""🤗 datasets as PyTorch Lightning data modules for perceiver models."""

from importlib.metadata import version as _version

from perceiver.data._cache import default_cache_dir, hf_datasets_cache
from perceiver.data.inference import InferenceSpec, inference_spec
from perceiver.model.namespace import check_namespace

check_namespace()  # perceiver-io 0.11's perceiver/__init__.py would hide this library

__version__ = _version("perceiver-data")  # the installed distribution's version (pyproject.toml)

__all__ = ["InferenceSpec", "__version__", "default_cache_dir", "hf_datasets_cache", "inference_spec"]
