"""A tiny model and a few random batches for every ``Lit*`` wrapper (tests of what they share)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from perceiver.lightning.audio.symbolic import LitSymbolicAudioModel, SymbolicAudioModelConfig
from perceiver.lightning.multimodal.autoencoder import (
    LitMultimodalAutoencoder,
    MultimodalAutoencoderConfig,
    MultimodalDecoderConfig,
    MultimodalEncoderConfig,
)
from perceiver.lightning.text.classifier import LitTextClassifier, TextClassifierConfig
from perceiver.lightning.text.clm import CausalLanguageModelConfig, LitCausalLanguageModel
from perceiver.lightning.text.mlm import (
    LitMaskedLanguageModel,
    MaskedLanguageModelConfig,
    TextDecoderConfig,
    TextEncoderConfig,
)
from perceiver.lightning.vision.image_classifier import (
    ClassificationDecoderConfig,
    ImageClassifierConfig,
    ImageEncoderConfig,
    LitImageClassifier,
)
from perceiver.lightning.vision.optical_flow import (
    LitOpticalFlow,
    OpticalFlowConfig,
    OpticalFlowDecoderConfig,
    OpticalFlowEncoderConfig,
)

VOCAB, SEQ = 32, 12
ENCODER = dict(num_cross_attention_heads=1, num_self_attention_heads=2, num_self_attention_layers_per_block=1)


class ListDataset(Dataset):
    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        return self.items[i]


def _text_items(n: int, gen: torch.Generator, labels: str) -> list:
    items = []
    for _ in range(n):
        ids = torch.randint(3, VOCAB, (SEQ + 1,), generator=gen)
        pad_mask = torch.zeros(SEQ, dtype=torch.bool)
        if labels == "causal":
            items.append((ids[1:], ids[:-1], pad_mask))
        elif labels == "masked":
            target = torch.full((SEQ,), -100)
            target[::3] = ids[:-1][::3]
            items.append((target, ids[:-1], pad_mask))
        else:
            items.append((torch.randint(0, 3, (), generator=gen), ids[:-1], pad_mask))
    return items


def _image_items(n: int, gen: torch.Generator) -> list:
    return [
        {"image": torch.rand(1, 8, 8, generator=gen), "label": torch.randint(0, 3, (), generator=gen)}
        for _ in range(n)
    ]


def _flow_items(n: int, gen: torch.Generator) -> list:
    return [
        {"patches": torch.rand(2, 27, 8, 12, generator=gen), "flow": torch.randn(8, 12, 2, generator=gen)}
        for _ in range(n)
    ]


def _video_items(n: int, gen: torch.Generator) -> list:
    return [
        {
            "image": torch.rand(2, 3, 8, 8, generator=gen),
            "audio": torch.rand(32, generator=gen),
            "label": torch.randint(0, 3, (), generator=gen),
        }
        for _ in range(n)
    ]


@dataclass
class Task:
    name: str
    cls: type
    config: Any
    items: Callable[[int, torch.Generator], list]
    script: str  # the training script's module
    kwargs: dict[str, Any] | None = None

    def model(self, **kwargs: Any) -> Any:
        return self.cls.create(self.config, **{**(self.kwargs or {}), **kwargs})

    def loader(self, n: int = 4, seed: int = 0) -> DataLoader:
        return DataLoader(ListDataset(self.items(n, torch.Generator().manual_seed(seed))), batch_size=2)


TEXT_ENCODER = TextEncoderConfig(vocab_size=VOCAB, max_seq_len=SEQ, num_input_channels=16, **ENCODER)
CAUSAL = dict(
    vocab_size=VOCAB,
    max_seq_len=SEQ,
    max_latents=4,
    num_channels=16,
    num_heads=2,
    num_self_attention_layers=1,
)

TASKS = [
    Task(
        "text.mlm",
        LitMaskedLanguageModel,
        MaskedLanguageModelConfig(
            encoder=TEXT_ENCODER,
            decoder=TextDecoderConfig(vocab_size=VOCAB, max_seq_len=SEQ, num_cross_attention_heads=1),
            num_latents=4,
            num_latent_channels=16,
        ),
        lambda n, g: _text_items(n, g, "masked"),
        "perceiver.scripts.text.mlm",
    ),
    Task(
        "text.classifier",
        LitTextClassifier,
        TextClassifierConfig(
            encoder=TEXT_ENCODER,
            decoder=ClassificationDecoderConfig(
                num_classes=3, num_output_query_channels=16, num_cross_attention_heads=1
            ),
            num_latents=4,
            num_latent_channels=16,
        ),
        lambda n, g: _text_items(n, g, "class"),
        "perceiver.scripts.text.classifier",
    ),
    Task(
        "text.clm",
        LitCausalLanguageModel,
        CausalLanguageModelConfig(**CAUSAL),
        lambda n, g: _text_items(n, g, "causal"),
        "perceiver.scripts.text.clm",
    ),
    Task(
        "audio.symbolic",
        LitSymbolicAudioModel,
        SymbolicAudioModelConfig(**CAUSAL),
        lambda n, g: _text_items(n, g, "causal"),
        "perceiver.scripts.audio.symbolic",
    ),
    Task(
        "vision.image_classifier",
        LitImageClassifier,
        ImageClassifierConfig(
            encoder=ImageEncoderConfig(image_shape=(1, 8, 8), num_frequency_bands=2, **ENCODER),
            decoder=ClassificationDecoderConfig(
                num_classes=3, num_output_query_channels=16, num_cross_attention_heads=1
            ),
            num_latents=4,
            num_latent_channels=16,
        ),
        _image_items,
        "perceiver.scripts.vision.image_classifier",
    ),
    Task(
        "vision.optical_flow",
        LitOpticalFlow,
        OpticalFlowConfig(
            encoder=OpticalFlowEncoderConfig(
                image_shape=(8, 12), num_patch_hidden_channels=8, num_frequency_bands=2, **ENCODER
            ),
            decoder=OpticalFlowDecoderConfig(num_cross_attention_heads=1),
            num_latents=4,
            num_latent_channels=16,
        ),
        _flow_items,
        "perceiver.scripts.vision.optical_flow",
    ),
    Task(
        "multimodal.autoencoder",
        LitMultimodalAutoencoder,
        MultimodalAutoencoderConfig(
            encoder=MultimodalEncoderConfig(
                num_frames=2,
                image_shape=(3, 8, 8),
                image_patch_size=4,
                image_num_frequency_bands=2,
                audio_samples_per_frame=16,
                audio_samples_per_patch=8,
                audio_num_frequency_bands=2,
                num_classes=3,
                **ENCODER,
            ),
            decoder=MultimodalDecoderConfig(
                num_cross_attention_heads=1, num_label_query_channels=16, num_output_channels=16
            ),
            num_latents=4,
            num_latent_channels=16,
        ),
        _video_items,
        "perceiver.scripts.multimodal.autoencoder",
    ),
]
TASK_IDS = [task.name for task in TASKS]


class CausalData(pl.LightningDataModule):
    """Random causal batches with every loader (the training scripts link vocab_size and max_seq_len)."""

    vocab_size = VOCAB
    max_seq_len = SEQ

    def __init__(self, num_batches: int = 2) -> None:
        super().__init__()
        self.num_batches = num_batches

    def _loader(self, seed: int) -> DataLoader:
        items = _text_items(2 * self.num_batches, torch.Generator().manual_seed(seed), "causal")
        return DataLoader(ListDataset(items), batch_size=2)

    def train_dataloader(self) -> DataLoader:
        return self._loader(0)

    def val_dataloader(self) -> DataLoader:
        return self._loader(1)

    def test_dataloader(self) -> DataLoader:
        return self._loader(2)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(3)
