"""perceiver-data shares the `perceiver` namespace; its package root stays light."""

import subprocess
import sys

import pytest

import perceiver


def test_perceiver_is_a_namespace_package():
    assert getattr(perceiver, "__file__", None) is None


def test_data_package_root_loads_neither_lightning_nor_datasets():
    # perceiver-data depends on perceiver-core (shared contracts, the namespace check), which
    # imports torch alone; the heavy libraries load only with the modules that use them
    code = (
        "import sys, perceiver.data; "
        "heavy = {'pytorch_lightning', 'lightning', 'datasets', 'transformers'} & set(sys.modules); "
        "assert not heavy, sorted(heavy)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


FORMAT_HELPERS = (
    "from perceiver.data.audio.midi import MidiProcessor, decode_midi, encode_midi, PAD_TOKEN_ID",
    "from perceiver.data.vision.flow import read_flo, write_flo, flow_to_color, extract_patches, "
    "preprocess_frame_pair",
    "from perceiver.data.vision.image import ImagePreprocessor, image_array",
    "from perceiver.data.vision import ImagePreprocessor, flow_to_color, read_flo",
    "from perceiver.data.audio import MidiProcessor, encode_midi",
    "from perceiver.data.inference import InferenceSpec",
)


def test_format_helpers_import_without_lightning_and_datasets():
    # the helpers perceiver-hf's pipelines use work where Lightning and datasets cannot be imported
    code = "\n".join(
        [
            "import sys",
            "class Block:",
            "    def find_spec(self, name, path=None, target=None):",
            "        if name.split('.')[0] in {'pytorch_lightning', 'lightning', 'datasets'}:",
            "            raise ImportError(f'{name} is blocked')",
            "sys.meta_path.insert(0, Block())",
            *FORMAT_HELPERS,
            "import numpy as np, torch",
            "from perceiver.data.vision.flow import extract_patches, flow_to_color",
            "assert extract_patches(torch.zeros(2, 3, 4, 4)).shape == (2, 27, 4, 4)",
            "assert flow_to_color(np.zeros((2, 2, 2), np.float32)).shape == (2, 2, 3)",
            "heavy = {'pytorch_lightning', 'lightning', 'datasets'} & set(sys.modules)",
            "assert not heavy, sorted(heavy)",
        ]
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lazy_package_names_resolve():
    import perceiver.data.audio as audio
    import perceiver.data.vision as vision

    for package in (audio, vision):
        for name in package.__all__:
            assert getattr(package, name) is not None, name
        with pytest.raises(AttributeError, match="no attribute 'missing'"):
            package.missing
