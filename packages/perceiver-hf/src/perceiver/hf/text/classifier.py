"""🤗 wrapper of the Perceiver IO text classifier."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput

from perceiver.hf._base import (
    PerceiverBackendConfig,
    PerceiverBackendModel,
    check_class_labels,
    check_forward_arguments,
    encoder_attributes,
)
from perceiver.hf._convert import convert_checkpoint_to
from perceiver.hf.tokenizer import load_tokenizer
from perceiver.model.core import ClassificationDecoderConfig
from perceiver.model.core.masks import pad_mask_from_attention_mask
from perceiver.model.text.classifier import TextClassifier, TextClassifierConfig
from perceiver.model.text.mlm import TextEncoderConfig

__all__ = [
    "PerceiverTextClassifier",
    "PerceiverTextClassifierConfig",
    "convert_checkpoint",
]


class PerceiverTextClassifierConfig(PerceiverBackendConfig):
    model_type = "perceiver-io-text-classifier"
    backend_config_class = TextClassifierConfig
    legacy_task = "text.classifier"
    standard_attributes = encoder_attributes(with_sequence=True)

    @classmethod
    def default_backend_config(cls) -> TextClassifierConfig:
        return TextClassifierConfig(
            encoder=TextEncoderConfig(),
            decoder=ClassificationDecoderConfig(),
            num_latents=256,
            num_latent_channels=512,
        )


class PerceiverTextClassifier(PerceiverBackendModel):
    config_class = PerceiverTextClassifierConfig
    backend_class = TextClassifier
    main_input_name = "input_ids"
    auto_class_name = "AutoModelForSequenceClassification"
    pipeline_tag = "text-classification"

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.backend_model.encoder.input_adapter.txt_embedding

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        check_forward_arguments(self, kwargs)
        pad_mask = pad_mask_from_attention_mask(attention_mask)
        logits = self.backend_model(input_ids, pad_mask=pad_mask)
        loss = None
        if labels is not None:
            check_class_labels(labels, tuple(logits.shape[:-1]), logits.shape[-1])
            loss = F.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


def convert_checkpoint(
    save_dir: str | Path,
    ckpt_url: str | Path,
    tokenizer_name: str | None = "deepmind/language-perceiver",
    push_to_hub: bool = False,
) -> PerceiverTextClassifier:
    """Convert a perceiver-lightning training checkpoint (local path or URL) of task ``text.classifier``
    to a 🤗 model in ``save_dir``, with the tokenizer ``tokenizer_name`` saved alongside."""
    tokenizer = None if tokenizer_name is None else load_tokenizer(tokenizer_name)
    return convert_checkpoint_to(
        save_dir, ckpt_url, PerceiverTextClassifier, "text.classifier", tokenizer, push_to_hub
    )


AutoConfig.register(PerceiverTextClassifierConfig.model_type, PerceiverTextClassifierConfig)
AutoModelForSequenceClassification.register(PerceiverTextClassifierConfig, PerceiverTextClassifier)
AutoModel.register(PerceiverTextClassifierConfig, PerceiverTextClassifier)
