"""🤗 wrapper of the Perceiver IO image classifier, and conversion of DeepMind's
``deepmind/vision-perceiver-fourier``, ``-learned`` and ``-conv`` (transformers'
``PerceiverForImageClassificationFourier``, ``...Learned`` and ``...ConvProcessing``).

Input: ``pixel_values`` (b, 3, h, w), normalized as :func:`image_processor` does (center crop
of 224/256 of the shorter side, bicubic resize to the model's image size, ImageNet mean/std).
Output: logits (b, num_labels). Like transformers' classes, the fourier and conv variants also
take other image sizes (Fourier features of the input's grid); the learned one only its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageClassification,
    PerceiverConfig,
    PerceiverForImageClassificationConvProcessing,
    PerceiverForImageClassificationFourier,
    PerceiverForImageClassificationLearned,
)
from transformers.modeling_outputs import ImageClassifierOutput

from perceiver.hf._base import (
    PerceiverBackendConfig,
    PerceiverBackendModel,
    check_class_labels,
    check_forward_arguments,
    encoder_attributes,
)
from perceiver.hf._convert import (
    class_names_from_labels,
    convert_checkpoint_to,
    convert_state_dict,
    load_source_model,
    split_hub_options,
)
from perceiver.hf.vision._tables import classification_decoder_table, encoder_kwargs, encoder_table
from perceiver.model.core import ClassificationDecoderConfig
from perceiver.model.vision.image_classifier import ImageClassifier, ImageClassifierConfig, ImageEncoderConfig

__all__ = [
    "SOURCE_CLASSES",
    "PerceiverImageClassifier",
    "PerceiverImageClassifierConfig",
    "convert_checkpoint",
    "convert_config",
    "convert_model",
    "convert_source_model",
    "image_processor",
]

Kind = Literal["fourier", "learned", "conv"]

SOURCE_CLASSES: dict[str, type] = {
    "fourier": PerceiverForImageClassificationFourier,
    "learned": PerceiverForImageClassificationLearned,
    "conv": PerceiverForImageClassificationConvProcessing,
}

# image size of the official models; the fourier and conv variants do not store it in their config
_OFFICIAL_IMAGE_SIZE = (224, 224)


class PerceiverImageClassifierConfig(PerceiverBackendConfig):
    model_type = "perceiver-io-image-classifier"
    backend_config_class = ImageClassifierConfig
    legacy_task = "vision.image_classifier"
    standard_attributes = encoder_attributes()

    @classmethod
    def default_backend_config(cls) -> ImageClassifierConfig:
        return ImageClassifierConfig.vision_perceiver_fourier()


class PerceiverImageClassifier(PerceiverBackendModel):
    config_class = PerceiverImageClassifierConfig
    backend_class = ImageClassifier
    main_input_name = "pixel_values"
    auto_class_name = "AutoModelForImageClassification"
    pipeline_tag = "image-classification"

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> ImageClassifierOutput:
        """``labels``: class indices (b,); the loss is their cross-entropy."""
        check_forward_arguments(self, kwargs)
        logits = self.backend_model(pixel_values)  # (b, num_labels)
        loss = None
        if labels is not None:
            check_class_labels(labels, tuple(logits.shape[:-1]), logits.shape[-1])
            loss = F.cross_entropy(logits, labels)
        return ImageClassifierOutput(loss=loss, logits=logits)


def convert_config(
    config: PerceiverConfig, kind: Kind, image_size: tuple[int, int] | None = None
) -> ImageClassifierConfig:
    """Backend config of a transformers image classification config.

    Args:
        kind: "fourier", "learned" or "conv", the transformers class the config belongs to.
        image_size: (height, width) of the input images. The learned variant takes it from the
            config (``image_size``); the others default to the official 224 x 224, the size
            their image processor resizes to (they take other sizes as well).
    """
    if kind not in SOURCE_CLASSES:
        raise ValueError(f"kind must be one of {tuple(SOURCE_CLASSES)}, got {kind!r}")
    if kind == "learned":
        learned_size = (config.image_size, config.image_size)
        if image_size is not None and tuple(image_size) != learned_size:
            raise ValueError(
                f"image_size {tuple(image_size)} differs from the learned model's image_size {learned_size}"
            )
        image_size = learned_size
    height, width = image_size or _OFFICIAL_IMAGE_SIZE
    # the input stems are fixed in transformers' classes, see their __init__
    stems = {
        "fourier": dict(num_frequency_bands=64, max_resolution=(224, 224)),
        "learned": dict(num_conv_channels=256, num_position_channels=256),
        "conv": dict(num_conv_channels=64, num_frequency_bands=64, max_resolution=(56, 56)),
    }
    encoder = ImageEncoderConfig(
        image_shape=(3, height, width), position_encoding=kind, **stems[kind], **encoder_kwargs(config)
    )
    # PerceiverClassificationDecoder: one trainable query of d_latents channels, one head
    decoder = ClassificationDecoderConfig(
        num_cross_attention_heads=1,
        num_output_queries=1,
        num_output_query_channels=config.d_latents,
        num_classes=config.num_labels,
        dropout=config.attention_probs_dropout_prob,
        init_scale=config.initializer_range,
    )
    return ImageClassifierConfig(
        encoder=encoder, decoder=decoder, num_latents=config.num_latents, num_latent_channels=config.d_latents
    )


def _key_table(config: PerceiverConfig, kind: Kind) -> list[tuple[str, str]]:
    table = encoder_table(config)
    table += classification_decoder_table()
    prep = "perceiver.input_preprocessor"
    if kind == "learned":
        table += [
            (f"{prep}.convnet_1x1.", "encoder.input_adapter.conv."),
            (
                f"{prep}.position_embeddings.position_embeddings",
                "encoder.input_adapter.position_encoding.position_embedding",
            ),
            (f"{prep}.positions_projection.", "encoder.input_adapter.position_projection."),
        ]
    elif kind == "conv":
        table += [
            (f"{prep}.convnet.conv.", "encoder.input_adapter.conv."),
            (f"{prep}.convnet.batchnorm.", "encoder.input_adapter.batch_norm."),
        ]
    return table


def _kind_of(source: nn.Module) -> Kind:
    for kind, cls in SOURCE_CLASSES.items():
        if type(source) is cls:
            return kind  # type: ignore[return-value]
    names = ", ".join(cls.__name__ for cls in SOURCE_CLASSES.values())
    raise ValueError(f"expected one of {names}, got {type(source).__name__}")


def convert_source_model(
    source: nn.Module, image_size: tuple[int, int] | None = None
) -> PerceiverImageClassifier:
    """Our 🤗 model with the weights of a transformers image classifier (any of the three)."""
    kind = _kind_of(source)
    hf_config = source.config
    id2label = {int(i): label for i, label in hf_config.id2label.items()}
    label2id = hf_config.label2id or {label: i for i, label in id2label.items()}
    config = PerceiverImageClassifierConfig(
        convert_config(hf_config, kind, image_size), id2label=id2label, label2id=dict(label2id)
    )
    model = PerceiverImageClassifier(config)
    target_keys = model.backend_model.state_dict().keys()
    state = convert_state_dict(source.state_dict(), _key_table(hf_config, kind), target_keys)
    model.backend_model.load_state_dict(state, strict=True)
    return model.eval()


def image_processor(image_size: tuple[int, int] = _OFFICIAL_IMAGE_SIZE):
    """transformers' ``PerceiverImageProcessor`` configured as for the official models.

    Center crop of 224/256 of the shorter side, bicubic resize to ``image_size``, rescale to
    [0, 1] and normalize with the ImageNet mean and std. The PIL backend is used so that no
    torchvision is needed; it saves as ``PerceiverImageProcessor``.
    """
    from transformers import PerceiverImageProcessorPil

    height, width = image_size
    return PerceiverImageProcessorPil(
        size={"height": height, "width": width}, crop_size={"height": 256, "width": 256}
    )


_official_image_processor = image_processor  # convert_checkpoint has an argument of this name


def _source_class(source_repo_id: str | Path, kind: Kind | None, **kwargs) -> type:
    if kind is None:
        name = Path(str(source_repo_id)).name
        kind = next((k for k in SOURCE_CLASSES if name.endswith(f"-{k}")), None)
    if kind is not None:
        if kind not in SOURCE_CLASSES:
            raise ValueError(f"kind must be one of {tuple(SOURCE_CLASSES)}, got {kind!r}")
        return SOURCE_CLASSES[kind]
    architectures = getattr(AutoConfig.from_pretrained(source_repo_id, **kwargs), "architectures", None) or []
    for cls in SOURCE_CLASSES.values():
        if cls.__name__ in architectures:
            return cls
    names = ", ".join(cls.__name__ for cls in SOURCE_CLASSES.values())
    raise ValueError(
        f"{source_repo_id} holds a {architectures or 'model of unknown class'}, expected one of {names}"
    )


def convert_model(
    save_dir: str | Path,
    source_repo_id: str | Path = "deepmind/vision-perceiver-fourier",
    kind: Kind | None = None,
    image_size: tuple[int, int] | None = None,
    push_to_hub: bool = False,
    **kwargs,
) -> PerceiverImageClassifier:
    """Convert an official vision Perceiver (a Hub id or a local directory transformers saved)
    and save it with its image processor to ``save_dir``.

    Args:
        kind: "fourier", "learned" or "conv"; None infers it from the repo name
            (``...-fourier`` etc.) or else from the saved config's architecture. A source of
            another class raises ``ValueError``.
        image_size: input (height, width) of the fourier and conv variants, default 224 x 224.
    """
    hub, kwargs = split_hub_options("convert_model", push_to_hub, kwargs)
    source_class = _source_class(source_repo_id, kind, **kwargs)
    model = convert_source_model(load_source_model(source_class, source_repo_id, **kwargs), image_size)
    processor = image_processor(model.config.backend_config.encoder.image_shape[1:])
    model.save_pretrained(save_dir, push_to_hub=push_to_hub, **hub)
    processor.save_pretrained(save_dir, push_to_hub=push_to_hub, **hub)
    return model


def convert_checkpoint(
    save_dir: str | Path,
    ckpt_url: str | Path,
    push_to_hub: bool = False,
    image_processor=None,
    class_names: Sequence[str] | None = None,
    id2label: Mapping[Any, Any] | None = None,
    label2id: Mapping[Any, Any] | None = None,
    **hub: Any,
) -> PerceiverImageClassifier:
    """Convert a perceiver-lightning training checkpoint (local path or URL) of task ``vision.image_classifier``
    to a 🤗 model in ``save_dir``, with the image processor it was trained with saved alongside.

    Args:
        image_processor: the image processor to save; None: the training data module's
            preprocessing (MNIST, ImageNet; see
            :func:`perceiver.hf.vision.image_processor.training_image_processor`), or, where the
            checkpoint records no data module, the official models' processor for the model's
            3-channel image size.
        class_names: the names of the classes (``id2label``); None: the names the checkpoint's
            data module records (MNIST's digits, an ImageNet folder's classes).
        id2label, label2id: perceiver-io 0.11's way of naming the classes (either one; both
            must agree): the same as ``class_names``.
        hub: ``repo_id``, ``commit_message``, ``private``, ``token``: options of
            ``push_to_hub=True`` (as perceiver-io 0.11's ``**kwargs``); refused without it.
    """
    from perceiver.hf.vision.image_processor import training_image_processor

    if image_processor is None:

        def image_processor(backend_config, data_hparams):
            image_shape = tuple(backend_config.encoder.image_shape)
            if not data_hparams and image_shape[0] == 3:
                return _official_image_processor(image_shape[1:])
            return training_image_processor(image_shape, data_hparams, str(ckpt_url))

    return convert_checkpoint_to(
        save_dir,
        ckpt_url,
        PerceiverImageClassifier,
        "vision.image_classifier",
        image_processor,
        push_to_hub,
        class_names=class_names_from_labels(id2label, label2id, class_names),
        hub=hub,
    )


AutoConfig.register(PerceiverImageClassifierConfig.model_type, PerceiverImageClassifierConfig)
AutoModelForImageClassification.register(PerceiverImageClassifierConfig, PerceiverImageClassifier)
AutoModel.register(PerceiverImageClassifierConfig, PerceiverImageClassifier)
