"""Lightning wrapper of the Perceiver IO text classifier.

Batches are ``(labels, input_ids, pad_mask)`` with labels (b,) (perceiver-data, ``task=clf``).
``encoder_params`` starts the encoder from a masked language model checkpoint.
"""

from __future__ import annotations

from typing import Any

import torch

from perceiver.lightning._batch_checks import check_token_ids
from perceiver.lightning._io import LitClassifier
from perceiver.model.core import ClassificationDecoderConfig
from perceiver.model.core.attention import effective_pad_mask
from perceiver.model.text.classifier import TextClassifier, TextClassifierConfig
from perceiver.model.text.mlm import TextEncoderConfig

__all__ = [
    "ClassificationDecoderConfig",
    "LitTextClassifier",
    "TextClassifier",
    "TextClassifierConfig",
    "TextEncoderConfig",
]


class LitTextClassifier(LitClassifier):
    """Args are the fields of ``TextClassifierConfig``, plus:

    Args:
        params: initial weights of the whole classifier (a checkpoint of this task).
        encoder_params: initial encoder weights from a ``LitMaskedLanguageModel`` checkpoint
            with the same encoder config.
    """

    task = "text.classifier"
    weight_sources = ("params", "encoder_params")
    config_class = TextClassifierConfig
    model_class = TextClassifier

    def __init__(
        self,
        encoder: TextEncoderConfig,
        decoder: ClassificationDecoderConfig,
        num_latents: int = 256,
        num_latent_channels: int = 1280,
        activation_checkpointing: bool = False,
        params: str | None = None,
        encoder_params: str | None = None,
    ) -> None:
        if encoder_params is not None and params is not None:
            raise ValueError(
                f"give params ({params!r}, weights of the whole classifier) or encoder_params "
                f"({encoder_params!r}, encoder weights of a masked language model), not both"
            )
        super().__init__()
        self._build(locals())
        if encoder_params is not None:
            self._load_encoder(encoder_params)

    def _load_encoder(self, path: str) -> None:
        from perceiver.lightning.text.mlm import LitMaskedLanguageModel

        state = LitMaskedLanguageModel._checked_checkpoint(path)["state_dict"]
        prefix = "backend_model.encoder."
        encoder_state = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
        try:
            self.backend_model.encoder.load_state_dict(encoder_state)
        except RuntimeError as e:  # missing keys or other shapes: another encoder config
            raise ValueError(
                f"encoder_params={path!r} does not fit the classifier's encoder (the masked language "
                f"model's encoder config must equal the classifier's): {e}"
            ) from e

    def data_limits(self) -> dict[str, int]:
        enc = self.hparams.encoder
        return {"max_seq_len": enc["max_seq_len"], "vocab_size": enc["vocab_size"]}

    def check_data(self, datamodule: Any) -> None:
        super().check_data(datamodule)
        self.check_num_classes(datamodule)

    def labels_of(self, batch: Any) -> torch.Tensor:
        return batch[0]

    def check_batch(self, batch: Any, where: str) -> None:
        super().check_batch(batch, where)
        check_token_ids(batch[1], self.hparams.encoder["vocab_size"], where)

    def unpack(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        labels, input_ids, pad_mask = batch
        return labels, input_ids, effective_pad_mask(pad_mask, read_device=True)
