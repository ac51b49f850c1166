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
    "from perceiver.data.multimodal.preprocessing import CLIP_FIELDS, ClipPreprocessor, load_clip",
    "from perceiver.data.multimodal import ClipPreprocessor, load_clip",
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
            "from perceiver.data.multimodal import ClipPreprocessor",
            "clip = {'video': np.zeros((3, 5, 6, 3), np.uint8), 'audio': np.zeros(12, np.float32), "
            "'label': np.int64(1)}",
            "prepared = ClipPreprocessor(2, (3, 4, 4), 4, 3)(clip)",
            "assert prepared['image'].shape == (2, 3, 4, 4) and prepared['audio'].shape == (8,)",
            "heavy = {'pytorch_lightning', 'lightning', 'datasets'} & set(sys.modules)",
            "assert not heavy, sorted(heavy)",
        ]
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_lazy_package_names_resolve():
    import perceiver.data.audio as audio
    import perceiver.data.multimodal as multimodal
    import perceiver.data.vision as vision

    for package in (audio, multimodal, vision):
        for name in package.__all__:
            assert getattr(package, name) is not None, name
        with pytest.raises(AttributeError, match="no attribute 'missing'"):
            package.missing


def test_clip_preprocessing_keeps_its_former_import_paths():
    from perceiver.data.multimodal import ClipPreprocessor, clips, load_clip, preprocessing

    assert clips.ClipPreprocessor is preprocessing.ClipPreprocessor is ClipPreprocessor
    assert clips.load_clip is preprocessing.load_clip is load_clip
    assert clips.CLIP_FIELDS is preprocessing.CLIP_FIELDS
