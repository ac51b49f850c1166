"""Lightning wrapper of the Perceiver IO text classifier.

Batches are ``(labels, input_ids, pad_mask)`` with labels (b,) (perceiver-data, ``task=clf``).
``encoder.params`` (or ``encoder_params``) starts the encoder from a masked language model.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import torch

from perceiver.lightning._base import as_config, load_checked
from perceiver.lightning._batch_checks import check_token_ids
from perceiver.lightning._io import LitClassifier
from perceiver.model.core import ClassificationDecoderConfig, PerceiverIOConfig
from perceiver.model.core.masks import effective_pad_mask
from perceiver.model.text.classifier import TextClassifier, TextClassifierConfig
from perceiver.model.text.mlm import TextEncoderConfig

__all__ = [
    "ClassificationDecoderConfig",
    "LitTextClassifier",
    "TextClassifier",
    "TextClassifierConfig",
    "TextClassifierEncoderConfig",
    "TextEncoderConfig",
]


@dataclass
class TextClassifierEncoderConfig(TextEncoderConfig):
    """``TextEncoderConfig`` plus ``params`` (``--model.encoder.params``, as in perceiver-io
    0.11). The core model's config does not hold it.

    Args:
        params: initial encoder weights: a masked language model checkpoint (ours or
            perceiver-io 0.11's), a 🤗 directory or a Hub id of one.
    """

    params: str | None = None


def _split_encoder_params(encoder: Any) -> tuple[Any, str | None]:
    """(the encoder config without ``params``, ``params``)."""
    if isinstance(encoder, TextClassifierEncoderConfig):
        data = encoder.to_dict()
    elif dataclasses.is_dataclass(encoder) and not isinstance(encoder, type):
        return encoder, None
    elif isinstance(encoder, dict):
        data = dict(encoder)
    else:
        return encoder, None
    params = data.pop("params", None)
    return data, os.fspath(params) if params is not None else None


class LitTextClassifier(LitClassifier):
    """Args are the fields of ``TextClassifierConfig``, plus:

    Args:
        params: initial weights of the whole classifier: a checkpoint of this task (ours or
            perceiver-io 0.11's), a 🤗 directory or a Hub id.
        encoder_params: initial encoder weights from a masked language model with the same
            encoder config (a checkpoint, a 🤗 directory or a Hub id); the same as
            ``encoder.params``. Loaded after ``params`` when both are given.
        optimizer: the optimizer of ``configure_optimizers`` (see :mod:`perceiver.lightning.optim`).
        lr_scheduler: its learning rate schedule (None: constant).
    """

    weight_arguments = ("params", "encoder_params")
    # perceiver-io 0.11's recipes: config.params = <classifier>, config.encoder.params = <masked LM>
    config_attributes = {"params": "params", "encoder.params": "encoder_params"}

    task = "text.classifier"
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
        optimizer: str | dict[str, Any] | None = "AdamW",
        lr_scheduler: str | dict[str, Any] | None = "ConstantWithWarmupLR",
    ) -> None:
        super().__init__()
        encoder, nested_params = _split_encoder_params(encoder)
        if nested_params is not None:
            if encoder_params is not None and os.fspath(encoder_params) != nested_params:
                raise ValueError(
                    f"encoder.params ({nested_params!r}) and encoder_params ({encoder_params!r}) "
                    "name different weights: give one of them"
                )
            encoder_params = nested_params
        config = TextClassifierConfig(
            encoder=as_config(TextEncoderConfig, encoder, "encoder"),
            decoder=as_config(ClassificationDecoderConfig, decoder, "decoder"),
            num_latents=num_latents,
            num_latent_channels=num_latent_channels,
            activation_checkpointing=activation_checkpointing,
        )
        self.save_config_hyperparameters(
            config,
            params=params,
            encoder_params=encoder_params,
            optimizer=optimizer,
            lr_scheduler=lr_scheduler,
        )
        self.backend_model = TextClassifier(config)
        self.add_metrics(config.decoder.num_classes)
        if params is not None:
            self.load_params(params)
        if encoder_params is not None:
            self.load_encoder_params(encoder_params)

    @classmethod
    def create(
        cls, config: TextClassifierConfig, params: str | None = None, **kwargs: Any
    ) -> LitTextClassifier:
        """A wrapper of a new text classifier built from ``config``.

        Besides a ``TextClassifierConfig``, ``config`` may be a masked language model's config
        whose decoder was replaced by a ``ClassificationDecoderConfig`` (perceiver-io 0.11's
        recipe); ``config.encoder.params`` set on it (a masked language model's weights, 0.11's
        field) is ``encoder_params``, ``config.params`` is ``params``.
        """
        return super().create(config, params, **kwargs)  # type: ignore[return-value]

    @classmethod
    def _task_config(cls, config: Any) -> Any:
        if isinstance(config, TextClassifierConfig) or not isinstance(config, PerceiverIOConfig):
            return config
        kind = type(config).__name__
        if not isinstance(config.decoder, ClassificationDecoderConfig):
            raise TypeError(
                f"LitTextClassifier.create expects a TextClassifierConfig, got a {kind} with a "
                f"{type(config.decoder).__name__} decoder. Replace its decoder by a classification "
                "decoder (config.decoder = ClassificationDecoderConfig(num_classes=..., "
                "num_output_query_channels=...), as in perceiver-io 0.11), or build "
                "TextClassifierConfig(encoder=config.encoder, decoder=ClassificationDecoderConfig(...), "
                "num_latents=config.num_latents, num_latent_channels=config.num_latent_channels)"
            )
        if not isinstance(config.encoder, TextEncoderConfig):
            raise TypeError(
                f"LitTextClassifier.create expects a TextClassifierConfig, got a {kind} with a "
                f"{type(config.encoder).__name__} encoder (a text encoder config is needed)"
            )
        try:
            return TextClassifierConfig(
                encoder=config.encoder,
                decoder=config.decoder,
                num_latents=config.num_latents,
                num_latent_channels=config.num_latent_channels,
                activation_checkpointing=config.activation_checkpointing,
            )
        except ValueError as e:
            raise ValueError(f"{kind} with a classification decoder: {e}") from None

    def load_encoder_params(self, params: str | os.PathLike) -> None:
        """Load the encoder's weights from a masked language model (see ``read_params``)."""
        from perceiver.lightning.text.mlm import LitMaskedLanguageModel

        config, state = LitMaskedLanguageModel.read_params(params)
        prefix = "encoder."
        encoder_state = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
        load_checked(
            self.backend_model.encoder,
            encoder_state,
            getattr(config, "encoder", None),
            f"encoder params {os.fspath(params)!r}",
            model_config=self.config.encoder,
        )

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
