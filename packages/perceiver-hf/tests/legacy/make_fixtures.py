"""Write the krasserm/perceiver-io fixtures of test_legacy.py: tiny random models of each task,
saved in perceiver-io 0.11's 🤗 layout, with their outputs on fixed inputs.

This script imports perceiver-io itself, so it runs outside this repository's environments, in
a scratch virtual environment that holds perceiver-io's source and the few packages its model
code imports (torch, einops, safetensors):

    git clone https://github.com/krasserm/perceiver-io /tmp/perceiver-io   # tag 0.11.1
    mkdir -p /tmp/pio-src && git -C /tmp/perceiver-io archive 0.11.1 perceiver | tar -x -C /tmp/pio-src
    python -m venv /tmp/pio-venv && /tmp/pio-venv/bin/pip install torch einops safetensors
    /tmp/pio-venv/bin/python packages/perceiver-hf/tests/legacy/make_fixtures.py /tmp/pio-src

Only perceiver-io's backend modules (``perceiver/model/*/backend.py`` and the core modules)
run. Its packages' ``__init__`` modules, which import its Lightning and 🤗 wrappers, are
skipped, and ``fairscale`` (imported for activation checkpointing only) is replaced by an empty
module. The 🤗 directory is written as perceiver-io's ``save_pretrained`` wrote it: a
``config.json`` with its ``model_type`` and the backend config under ``model_config``, and the
backend weights prefixed ``backend_model.`` in ``model.safetensors`` (the text classifier in
``pytorch_model.bin``). ``expected.safetensors`` holds the inputs and perceiver-io's outputs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import types
from pathlib import Path

import torch
from safetensors.torch import save_file

FIXTURES = Path(__file__).parent / "fixtures"

# perceiver-io packages whose __init__ imports its Lightning and 🤗 wrappers
_WRAPPER_PACKAGES = (
    "perceiver.model.text.mlm",
    "perceiver.model.text.classifier",
    "perceiver.model.text.clm",
    "perceiver.model.audio.symbolic",
    "perceiver.model.vision.image_classifier",
    "perceiver.model.vision.optical_flow",
)


def _prepare_imports(src: Path) -> None:
    sys.path.insert(0, str(src))
    fairscale = types.ModuleType("fairscale")
    fairscale_nn = types.ModuleType("fairscale.nn")
    fairscale_nn.checkpoint_wrapper = lambda module, **kwargs: module
    fairscale.nn = fairscale_nn
    sys.modules.update({"fairscale": fairscale, "fairscale.nn": fairscale_nn})
    for name in _WRAPPER_PACKAGES:
        package = types.ModuleType(name)
        package.__path__ = [str(src.joinpath(*name.split(".")))]
        sys.modules[name] = package


def _randomize(model: torch.nn.Module, seed: int) -> None:
    """Random values for every parameter, norms included, so that a swapped or mis-mapped
    tensor changes the outputs (the default initialisation leaves norms at 1 and biases at 0)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator) * 0.3
            param.copy_(1.0 + noise if "norm" in name and name.endswith("weight") else noise)


def _save(name: str, model, config, model_type: str, architecture: str, extra: dict, tensors: dict,
          metadata: dict | None = None, pickle_weights: bool = False) -> None:  # fmt: skip
    out = FIXTURES / name
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    config_json = {
        "architectures": [architecture],
        "model_config": dataclasses.asdict(config),
        "model_type": model_type,
        "torch_dtype": "float32",
        "transformers_version": "4.28.1",
        **extra,
    }
    (out / "config.json").write_text(json.dumps(config_json, indent=2, sort_keys=True) + "\n")
    state = {f"backend_model.{k}": v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if pickle_weights:
        torch.save(state, out / "pytorch_model.bin")
    else:
        save_file(state, out / "model.safetensors", metadata={"format": "pt"})
    save_file(
        {k: v.contiguous() for k, v in tensors.items()}, out / "expected.safetensors", metadata=metadata
    )


def _text_encoder_config(**kwargs):
    from perceiver.model.text.common.backend import TextEncoderConfig

    return TextEncoderConfig(
        vocab_size=32,
        max_seq_len=12,
        num_input_channels=16,
        num_cross_attention_heads=2,
        num_self_attention_heads=2,
        **({"num_self_attention_layers_per_block": 2} | kwargs),
    )


def masked_language_model() -> None:
    from perceiver.model.core import PerceiverIOConfig
    from perceiver.model.text.mlm.backend import MaskedLanguageModel, TextDecoderConfig

    torch.manual_seed(0)
    config = PerceiverIOConfig(
        encoder=_text_encoder_config(
            num_self_attention_blocks=2,
            first_self_attention_block_shared=False,
            num_cross_attention_v_channels=8,
        ),
        decoder=TextDecoderConfig(
            vocab_size=32, max_seq_len=14, num_cross_attention_heads=2, cross_attention_residual=False
        ),
        num_latents=6,
        num_latent_channels=12,
    )
    model = MaskedLanguageModel(config).eval()
    _randomize(model, 1)
    x = torch.randint(0, 32, (2, 10))
    pad_mask = torch.zeros(2, 10, dtype=torch.bool)
    pad_mask[1, 7:] = True
    with torch.no_grad():
        logits = model(x, pad_mask=pad_mask)
    _save(
        "text.mlm", model, config, "perceiver-io-masked-language-model", "PerceiverMaskedLanguageModel",
        {"tokenizer_class": "PerceiverTokenizer"}, {"input_ids": x, "pad_mask": pad_mask, "logits": logits},
    )  # fmt: skip


def text_classifier() -> None:
    from perceiver.model.core import ClassificationDecoderConfig, PerceiverIOConfig
    from perceiver.model.text.classifier.backend import TextClassifier

    torch.manual_seed(0)
    config = PerceiverIOConfig(
        encoder=_text_encoder_config(
            num_cross_attention_layers=2, num_self_attention_blocks=2, num_self_attention_layers_per_block=1
        ),
        decoder=ClassificationDecoderConfig(
            num_output_query_channels=12,
            num_classes=3,
            num_cross_attention_heads=1,
            num_cross_attention_qk_channels=8,
        ),
        num_latents=6,
        num_latent_channels=16,
    )
    model = TextClassifier(config).eval()
    _randomize(model, 2)
    x = torch.randint(0, 32, (2, 12))
    pad_mask = torch.zeros(2, 12, dtype=torch.bool)
    pad_mask[0, 9:] = True
    with torch.no_grad():
        logits = model(x, pad_mask=pad_mask)
    labels = {"id2label": {"0": "A", "1": "B", "2": "C"}, "label2id": {"A": 0, "B": 1, "C": 2}}
    _save(
        "text.classifier", model, config, "perceiver-io-text-classifier", "PerceiverTextClassifier",
        {"tokenizer_class": "PerceiverTokenizer", **labels},
        {"input_ids": x, "pad_mask": pad_mask, "logits": logits}, pickle_weights=True,
    )  # fmt: skip


def _causal(name, model_cls, config_cls, model_type, architecture, seed, **kwargs) -> None:
    torch.manual_seed(0)
    config = config_cls(**kwargs)
    model = model_cls(config).eval()
    _randomize(model, seed)
    n, prefix_len = config.max_seq_len - 2, config.max_seq_len - 2 - config.max_latents
    x = torch.randint(0, config.vocab_size, (2, n))
    pad_mask = torch.zeros(2, n, dtype=torch.bool)
    pad_mask[1, :3] = True  # left padding, inside the prefix
    with torch.no_grad():
        logits = model(x, prefix_len=prefix_len, pad_mask=pad_mask).logits
        logits_no_prefix = model(x[:, -config.max_latents :], prefix_len=0).logits
    tensors = {"input_ids": x, "pad_mask": pad_mask, "logits": logits, "logits_no_prefix": logits_no_prefix}
    _save(
        name,
        model,
        config,
        model_type,
        architecture,
        {"is_decoder": True},
        tensors,
        {"prefix_len": str(prefix_len)},
    )


def causal_language_model() -> None:
    from perceiver.model.text.clm.backend import CausalLanguageModel, CausalLanguageModelConfig

    _causal(
        "text.clm", CausalLanguageModel, CausalLanguageModelConfig, "perceiver-ar-causal-language-model",
        "PerceiverCausalLanguageModel", 3, vocab_size=32, max_seq_len=16, max_latents=6, num_channels=16,
        num_heads=2, num_self_attention_layers=2, output_norm=True, cross_attention_dropout=0.5,
    )  # fmt: skip


def causal_language_model_rotary_widths() -> None:
    """Heads whose rotated channels (half of each head with abs_pos_emb) are odd or a single
    channel: perceiver-io rounds them up to whole pairs (text.clm.rotary-<channels per head>)."""
    from perceiver.model.text.clm.backend import CausalLanguageModel, CausalLanguageModelConfig

    for num_channels, num_heads in ((12, 2), (8, 4), (20, 2)):
        _causal(
            f"text.clm.rotary-{num_channels // num_heads}", CausalLanguageModel, CausalLanguageModelConfig,
            "perceiver-ar-causal-language-model", "PerceiverCausalLanguageModel", 7, vocab_size=32,
            max_seq_len=16, max_latents=6, num_channels=num_channels, num_heads=num_heads,
            num_self_attention_layers=2, num_self_attention_rotary_layers=-1, cross_attention_dropout=0.0,
        )  # fmt: skip


def symbolic_audio_model() -> None:
    from perceiver.model.audio.symbolic.backend import SymbolicAudioModel, SymbolicAudioModelConfig

    _causal(
        "audio.symbolic", SymbolicAudioModel, SymbolicAudioModelConfig, "perceiver-ar-symbolic-audio-model",
        "PerceiverSymbolicAudioModel", 4, vocab_size=40, max_seq_len=14, max_latents=4, num_channels=16,
        num_heads=2, num_self_attention_layers=2, num_self_attention_rotary_layers=-1, abs_pos_emb=False,
        output_bias=False,
    )  # fmt: skip


def image_classifier() -> None:
    from perceiver.model.core import ClassificationDecoderConfig, PerceiverIOConfig
    from perceiver.model.vision.image_classifier.backend import ImageClassifier, ImageEncoderConfig

    torch.manual_seed(0)
    config = PerceiverIOConfig(
        encoder=ImageEncoderConfig(
            image_shape=(6, 5, 2),
            num_frequency_bands=3,
            num_cross_attention_heads=1,
            num_self_attention_heads=2,
            num_self_attention_layers_per_block=2,
        ),
        decoder=ClassificationDecoderConfig(
            num_output_query_channels=8, num_classes=4, num_cross_attention_heads=2
        ),
        num_latents=4,
        num_latent_channels=8,
    )
    model = ImageClassifier(config).eval()
    _randomize(model, 5)
    x = torch.randn(2, 6, 5, 2)  # perceiver-io takes images channels-last
    with torch.no_grad():
        logits = model(x)
    labels = {"id2label": {str(i): str(i) for i in range(4)}, "label2id": {str(i): i for i in range(4)}}
    _save(
        "vision.image_classifier", model, config, "perceiver-io-image-classifier", "PerceiverImageClassifier",
        labels, {"pixel_values_channels_last": x, "logits": logits},
    )  # fmt: skip


def mnist_image_classifier() -> None:
    """An MNIST classifier with the image processor that perceiver-io 0.11's
    ``convert_mnist_classifier_checkpoint`` saved: its ``PerceiverImageClassifierInputProcessor``
    (transformers' ``PerceiverImageProcessor`` of transformers 4.28 plus ``single_channel`` and
    ``channels_last``) without crop and resize, normalizing with mean and std 0.5."""
    from perceiver.model.core import ClassificationDecoderConfig, PerceiverIOConfig
    from perceiver.model.vision.image_classifier.backend import ImageClassifier, ImageEncoderConfig

    torch.manual_seed(0)
    config = PerceiverIOConfig(
        encoder=ImageEncoderConfig(
            image_shape=(28, 28, 1),
            num_frequency_bands=3,
            num_cross_attention_heads=1,
            num_self_attention_heads=2,
            num_self_attention_layers_per_block=1,
        ),
        decoder=ClassificationDecoderConfig(
            num_output_query_channels=8, num_classes=10, num_cross_attention_heads=2
        ),
        num_latents=4,
        num_latent_channels=8,
    )
    model = ImageClassifier(config).eval()
    _randomize(model, 6)
    images = torch.randint(0, 256, (3, 28, 28), generator=torch.Generator().manual_seed(6), dtype=torch.uint8)
    x = (images.float() / 255.0 - 0.5) / 0.5  # its processor: rescale, normalize
    with torch.no_grad():
        logits = model(x[..., None])  # perceiver-io takes images channels-last
    labels = {"id2label": {str(i): i for i in range(10)}, "label2id": {str(i): i for i in range(10)}}
    name = "vision.image_classifier.mnist"
    _save(
        name, model, config, "perceiver-io-image-classifier", "PerceiverImageClassifier",
        labels, {"images": images, "logits": logits},
    )  # fmt: skip
    processor = {
        "channels_last": True,
        "crop_size": {"height": 256, "width": 256},
        "do_center_crop": False,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": False,
        "image_mean": 0.5,
        "image_processor_type": "PerceiverImageClassifierInputProcessor",
        "image_std": 0.5,
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "single_channel": True,
        "size": {"height": 224, "width": 224},
    }
    (FIXTURES / name / "preprocessor_config.json").write_text(
        json.dumps(processor, indent=2, sort_keys=True) + "\n"
    )


def optical_flow() -> None:
    from perceiver.model.core import PerceiverIOConfig
    from perceiver.model.vision.optical_flow.backend import (
        OpticalFlow,
        OpticalFlowDecoderConfig,
        OpticalFlowEncoderConfig,
    )

    torch.manual_seed(0)
    config = PerceiverIOConfig(
        encoder=OpticalFlowEncoderConfig(
            image_shape=(4, 5),
            num_patch_input_channels=27,
            num_patch_hidden_channels=8,
            num_frequency_bands=2,
            num_cross_attention_heads=1,
            num_self_attention_heads=2,
            num_self_attention_layers_per_block=2,
        ),
        decoder=OpticalFlowDecoderConfig(
            image_shape=(4, 5),
            num_cross_attention_heads=1,
            cross_attention_residual=False,
            rescale_factor=10.0,
        ),
        num_latents=4,
        num_latent_channels=8,
    )
    model = OpticalFlow(config).eval()
    _randomize(model, 6)
    x = torch.randn(2, 2, 27, 4, 5)
    with torch.no_grad():
        flow = model(x)
    _save(
        "vision.optical_flow", model, config, "perceiver-io-optical-flow", "OpticalFlowPerceiver", {},
        {"inputs": x, "flow": flow},
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "perceiver_io_src", type=Path, help="folder holding perceiver-io's 'perceiver' package"
    )
    parser.add_argument("--only", nargs="*", help="names of the functions to run (default: all)")
    args = parser.parse_args()
    _prepare_imports(args.perceiver_io_src)
    makers = (
        masked_language_model,
        text_classifier,
        causal_language_model,
        causal_language_model_rotary_widths,
        symbolic_audio_model,
        image_classifier,
        mnist_image_classifier,
        optical_flow,
    )
    for make in makers:
        if not args.only or make.__name__ in args.only:
            make()
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_file():
            print(f"{path.relative_to(FIXTURES)}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
