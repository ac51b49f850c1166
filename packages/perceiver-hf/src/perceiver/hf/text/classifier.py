"""🤗 wrapper of the Perceiver IO text classifier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer
from transformers.modeling_outputs import SequenceClassifierOutput

from perceiver.hf._base import (
    PerceiverBackendConfig,
    PerceiverBackendModel,
    check_class_labels,
    check_forward_arguments,
    encoder_attributes,
)
from perceiver.hf._convert import class_names_from_labels, convert_text_checkpoint
from perceiver.hf.tokenizer import PerceiverBytesTokenizer
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
    tokenizer_name: str | bool | None = True,
    push_to_hub: bool = False,
    class_names: Sequence[str] | None = None,
    id2label: Mapping[Any, Any] | None = None,
    label2id: Mapping[Any, Any] | None = None,
    **hub: Any,
) -> PerceiverTextClassifier:
    """Convert a perceiver-lightning training checkpoint (local path or URL) of task ``text.classifier``
    to a 🤗 model in ``save_dir``, with its tokenizer saved alongside.

    Args:
        tokenizer_name: True: the tokenizer the model was trained with (named by the checkpoint's
            data module; the UTF-8 bytes tokenizer where it names none); a name or path: that
            tokenizer; None: no tokenizer. It is saved as in training: special tokens only where
            training added them, the training's padding side, ``model_max_length`` = the model's
            ``max_seq_len``.
        class_names: the names of the classes (``id2label``); None: the names the checkpoint's
            data module records (``class_names``, or its class's, e.g. IMDb's ``neg``, ``pos``).
        id2label, label2id: perceiver-io 0.11's way of naming the classes (either one; both
            must agree): the same as ``class_names``.
        hub: ``repo_id``, ``commit_message``, ``private``, ``token``: options of
            ``push_to_hub=True`` (as perceiver-io 0.11's ``**kwargs``); refused without it.
    """
    return convert_text_checkpoint(
        save_dir,
        ckpt_url,
        PerceiverTextClassifier,
        "text.classifier",
        tokenizer_name,
        push_to_hub,
        class_names_from_labels(id2label, label2id, class_names),
        hub=hub,
    )


AutoConfig.register(PerceiverTextClassifierConfig.model_type, PerceiverTextClassifierConfig)
AutoModelForSequenceClassification.register(PerceiverTextClassifierConfig, PerceiverTextClassifier)
AutoModel.register(PerceiverTextClassifierConfig, PerceiverTextClassifier)
AutoTokenizer.register(PerceiverTextClassifierConfig, slow_tokenizer_class=PerceiverBytesTokenizer)
