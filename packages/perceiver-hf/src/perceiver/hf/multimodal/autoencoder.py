"""🤗 wrapper of the multimodal Perceiver IO autoencoder, conversion of
``deepmind/multimodal-perceiver`` (transformers' ``PerceiverForMultimodalAutoencoding``) and the
``multimodal-autoencoding`` pipeline.

Inputs: {"image": video (b, t, c, h, w), "audio": (b, s) or (b, s, 1), "label": (b, k)}, see
:mod:`perceiver.model.multimodal.autoencoder`. Output ``logits``: {"image": (b, n_image, c),
"audio": (b, n_audio * samples_per_patch), "label": (b, k)} for all output points or the
``subsampled_output_points``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, PerceiverConfig, PerceiverForMultimodalAutoencoding, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.utils import ModelOutput

from perceiver.hf._base import (
    PerceiverBackendConfig,
    PerceiverBackendModel,
    check_forward_arguments,
    encoder_attributes,
    refuse_pipeline_arguments,
)
from perceiver.hf._convert import (
    convert_checkpoint_to,
    convert_state_dict,
    load_source_model,
    split_hub_options,
)
from perceiver.hf.vision._tables import decoder_table, encoder_kwargs, encoder_table
from perceiver.model.core.validation import check_int
from perceiver.model.multimodal.autoencoder import (
    MultimodalAutoencoder,
    MultimodalAutoencoderConfig,
    MultimodalDecoderConfig,
    MultimodalEncoderConfig,
    reconstruction_loss,
)

__all__ = [
    "MultimodalAutoencoderOutput",
    "MultimodalAutoencodingPipeline",
    "PerceiverMultimodalAutoencoder",
    "PerceiverMultimodalAutoencoderConfig",
    "convert_checkpoint",
    "convert_config",
    "convert_model",
    "convert_source_model",
]


@dataclass
class MultimodalAutoencoderOutput(ModelOutput):
    """``logits``: reconstructions per modality; ``loss``: :func:`reconstruction_loss` against ``labels``."""

    loss: torch.Tensor | None = None
    logits: dict[str, torch.Tensor] | None = None


class PerceiverMultimodalAutoencoderConfig(PerceiverBackendConfig):
    model_type = "perceiver-io-multimodal-autoencoder"
    backend_config_class = MultimodalAutoencoderConfig
    standard_attributes = encoder_attributes()

    @classmethod
    def default_backend_config(cls) -> MultimodalAutoencoderConfig:
        return MultimodalAutoencoderConfig.multimodal_perceiver()


class PerceiverMultimodalAutoencoder(PerceiverBackendModel):
    config_class = PerceiverMultimodalAutoencoderConfig
    backend_class = MultimodalAutoencoder
    main_input_name = "inputs"
    pipeline_tag = "multimodal-autoencoding"

    def forward(
        self,
        inputs: dict[str, torch.Tensor],
        subsampled_output_points: dict[str, torch.Tensor | None] | None = None,
        labels: dict[str, torch.Tensor] | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MultimodalAutoencoderOutput:
        """``labels``: reconstruction targets shaped like ``inputs`` (usually the inputs themselves,
        with a one-hot ``label``); the loss is the core ``reconstruction_loss``."""
        check_forward_arguments(self, kwargs)
        logits = self.backend_model(inputs, subsampled_output_points=subsampled_output_points)
        loss = None if labels is None else reconstruction_loss(logits, labels, subsampled_output_points)
        return MultimodalAutoencoderOutput(loss=loss, logits=logits)


def convert_config(
    config: PerceiverConfig, output_chunk_size: int | None = None
) -> MultimodalAutoencoderConfig:
    """Backend config of a transformers ``PerceiverForMultimodalAutoencoding`` config."""
    video_shape = (config.num_frames, config.image_size, config.image_size)
    if tuple(config.output_shape[1:]) != video_shape:
        raise ValueError(
            f"output_shape {tuple(config.output_shape)} must be (1, num_frames, image_size, image_size) = (1, {video_shape})"
        )
    # the preprocessor and decoder settings are fixed in PerceiverForMultimodalAutoencoding.__init__
    encoder = MultimodalEncoderConfig(
        num_frames=config.num_frames,
        image_shape=(3, config.image_size, config.image_size),
        image_patch_size=4,
        image_num_frequency_bands=32,
        audio_samples_per_frame=config.audio_samples_per_frame,
        audio_samples_per_patch=config.samples_per_patch,
        audio_num_frequency_bands=192,
        num_classes=config.num_labels,
        min_padding_size=4,
        mask_probs={"image": 0.0, "audio": 0.0, "label": 1.0},
        **encoder_kwargs(config),
    )
    decoder = MultimodalDecoderConfig(
        num_cross_attention_heads=1,
        cross_attention_residual=False,
        num_label_query_channels=config._label_trainable_num_channels,
        min_padding_size=2,
        num_output_channels=config.output_num_channels,
        output_chunk_size=output_chunk_size,
        dropout=config.attention_probs_dropout_prob,
        init_scale=config.initializer_range,
    )
    return MultimodalAutoencoderConfig(
        encoder=encoder, decoder=decoder, num_latents=config.num_latents, num_latent_channels=config.d_latents
    )


def _key_table(config: PerceiverConfig) -> list[tuple[str, str]]:
    p = "perceiver"
    table = encoder_table(config)
    table += [
        (f"{p}.input_preprocessor.padding.", "encoder.input_adapter.padding."),
        (f"{p}.input_preprocessor.mask.", "encoder.input_adapter.mask_token."),
        (
            f"{p}.decoder.modalities.label.decoder.output_position_encodings.position_embeddings",
            "decoder.output_query_provider.label_query",
        ),
        (f"{p}.decoder.padding.", "decoder.output_query_provider.padding."),
    ]
    table += [
        (f"{p}.output_postprocessor.modalities.{m}.classifier.", f"postprocessors.{m}.")
        for m in ("audio", "image", "label")
    ]
    return table + decoder_table(f"{p}.decoder.decoder")


def convert_source_model(
    source: PerceiverForMultimodalAutoencoding, output_chunk_size: int | None = None
) -> PerceiverMultimodalAutoencoder:
    """Our 🤗 model with the weights of a transformers ``PerceiverForMultimodalAutoencoding``."""
    if not isinstance(source, PerceiverForMultimodalAutoencoding):
        raise ValueError(f"expected a PerceiverForMultimodalAutoencoding, got {type(source).__name__}")
    hf_config = source.config
    id2label = {int(i): label for i, label in hf_config.id2label.items()}
    config = PerceiverMultimodalAutoencoderConfig(
        convert_config(hf_config, output_chunk_size),
        id2label=id2label,
        label2id=hf_config.label2id or {label: i for i, label in id2label.items()},
    )
    model = PerceiverMultimodalAutoencoder(config)
    target_keys = model.backend_model.state_dict().keys()
    state = convert_state_dict(source.state_dict(), _key_table(hf_config), target_keys)
    model.backend_model.load_state_dict(state, strict=True)
    return model.eval()


def convert_model(
    save_dir: str | Path,
    source_repo_id: str | Path = "deepmind/multimodal-perceiver",
    output_chunk_size: int | None = None,
    push_to_hub: bool = False,
    **kwargs,
) -> PerceiverMultimodalAutoencoder:
    """Convert ``deepmind/multimodal-perceiver`` (a Hub id or a local directory transformers saved)
    and save it to ``save_dir``; ``pipeline("multimodal-autoencoding", model=save_dir)`` loads it."""
    hub, kwargs = split_hub_options("convert_model", push_to_hub, kwargs)
    source = load_source_model(PerceiverForMultimodalAutoencoding, source_repo_id, **kwargs)
    model = convert_source_model(source, output_chunk_size)
    model.save_pretrained(save_dir, push_to_hub=push_to_hub, **hub)
    return model


def video_input(video: Any) -> torch.Tensor:
    """A video (t, c, h, w) of float pixels as a float32 tensor; integer (raw uint8) pixels are
    refused: the model takes floats as it was trained on (in [0, 1] for perceiver-data's
    multimodal data module and the official model)."""
    array = np.asarray(video)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"inputs['image'] must hold float pixels as the model was trained on, got dtype {array.dtype}; "
            "scale raw uint8 frames to [0, 1] first (frames / 255)"
        )
    return torch.as_tensor(array).float()


def audio_input(audio: Any, num_samples: int) -> torch.Tensor:
    """Audio samples (s,) as float32: mono (s,) or (s, 1), or (s, channels), averaged to mono (the
    mean of the channels at each sample). Integer samples (raw int16 PCM) are refused, as is a
    sample count other than the model's ``num_samples`` (which also catches channel-first
    arrays)."""
    array = np.asarray(audio)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(
            f"inputs['audio'] must hold float samples in [-1, 1], got dtype {array.dtype}; "
            "scale int16 samples first (samples / 32768)"
        )
    if array.ndim == 2:
        array = array.mean(axis=1)  # (s, channels) -> (s,): stereo and multichannel audio to mono
    if array.ndim != 1 or array.shape[0] != num_samples:
        raise ValueError(
            f"inputs['audio'] must have shape ({num_samples},) or ({num_samples}, channels), "
            f"sample-major, got {np.asarray(audio).shape}"
        )
    return torch.as_tensor(array).float()


class MultimodalAutoencodingPipeline(Pipeline):
    """``pipeline("multimodal-autoencoding", model=...)(inputs, num_chunks=..., top_k=5)``.

    ``inputs`` (or a list of them) is one of:

    - a raw clip as perceiver-data's ``MultimodalDataModule`` reads it for training: the path of a
      ``.npz`` clip file, or a dict of its arrays, "video" (T, H, W, 3) uint8 or float in [0, 1],
      "audio" (S,) or (S, 1) float in [-1, 1] or int16 and optionally "label", a class id. It is
      prepared as the data module prepares validation clips (the centre ``num_frames`` frames,
      resized to cover the model's frame size and centre-cropped, the audio of those frames
      resampled to the model's sample count; the label one-hot, zeros without one), with the
      settings the model was trained with (its encoder's). Needs perceiver-data
      (``pip install "perceiver-hf[data]"``).
    - model input: a dict with "image", a video (t, c, h, w) of floats as the model was trained
      on (integer pixels are refused: scale uint8 frames to [0, 1]), "audio", float samples (s,)
      or (s, channels) (several channels are averaged to mono; integer samples are refused), and
      optionally "label", (k,) (the official model masks it, so it is ignored; zeros by default).

    The video pixels and audio patches are decoded in ``num_chunks`` chunks of output queries,
    one model call each, which bounds the memory of decoding a whole video.

    Returns a dict with "image" (t, h, w, c) and "audio" (s,) reconstructions (numpy float32),
    "label" logits (k,) and "labels", the ``top_k`` classes as {"label", "score"} dicts.
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = False

    def _sanitize_parameters(self, num_chunks: int | None = None, top_k: int | None = None, **kwargs):
        refuse_pipeline_arguments("multimodal-autoencoding", kwargs)
        if num_chunks is not None:
            check_int("num_chunks", num_chunks, minimum=1)
        if top_k is not None:
            check_int("top_k", top_k, minimum=1)
        forward_params = {} if num_chunks is None else {"num_chunks": num_chunks}
        postprocess_params = {} if top_k is None else {"top_k": top_k}
        return {}, forward_params, postprocess_params

    def preprocess(self, inputs: dict[str, Any] | str | os.PathLike) -> dict[str, torch.Tensor]:
        if isinstance(inputs, str | os.PathLike) or (isinstance(inputs, dict) and "video" in inputs):
            return self._clip_inputs(inputs)
        if not isinstance(inputs, dict) or "image" not in inputs or "audio" not in inputs:
            raise ValueError(
                "inputs must be the path of a .npz clip, a clip's arrays {'video', 'audio', 'label'}, "
                "or a dict with 'image' (t, c, h, w) and 'audio' (s,) and optionally 'label'; "
                f"got {type(inputs).__name__}"
                + (f" with keys {sorted(inputs)}" if isinstance(inputs, dict) else "")
            )
        enc = self.model.config.backend_config.encoder
        label = inputs.get("label")
        label = torch.zeros(enc.num_classes) if label is None else torch.as_tensor(np.asarray(label)).float()
        return {
            "image": video_input(inputs["image"])[None],  # (1, t, c, h, w)
            "audio": audio_input(inputs["audio"], enc.num_frames * enc.audio_samples_per_frame)[
                None
            ],  # (1, s)
            "label": label[None],  # (1, k)
        }

    def _clip_inputs(self, clip: dict[str, Any] | str | os.PathLike) -> dict[str, torch.Tensor]:
        """A raw clip, prepared as perceiver-data's data module prepares validation clips."""
        try:
            from perceiver.data.multimodal.preprocessing import CLIP_FIELDS, ClipPreprocessor, load_clip
        except ImportError as error:
            raise ImportError(
                'reading raw clips needs perceiver-data\'s clip preprocessing: pip install "perceiver-hf[data]"'
            ) from error
        if isinstance(clip, dict):
            source, arrays = "inputs", dict(clip)
            unknown = sorted(set(arrays) - set(CLIP_FIELDS))
            if unknown:
                raise ValueError(f"a clip's arrays are {list(CLIP_FIELDS)}, got the keys {unknown} too")
            if "audio" not in arrays:
                raise ValueError("a clip must have 'audio' (S,) or (S, 1) besides 'video'")
        else:
            source, arrays = os.fspath(clip), load_clip(clip)
        enc = self.model.config.backend_config.encoder
        labelled = arrays.get("label") is not None
        if not labelled:
            arrays["label"] = np.int64(0)  # a placeholder the preprocessing checks; the input is zeros
        preprocess = ClipPreprocessor(
            enc.num_frames, tuple(enc.image_shape), enc.audio_samples_per_frame, enc.num_classes
        )
        prepared = preprocess(arrays, random=False, source=source)
        if labelled:
            label = torch.nn.functional.one_hot(prepared["label"], enc.num_classes).float()
        else:
            label = torch.zeros(enc.num_classes)
        return {
            "image": prepared["image"][None],  # (1, t, c, h, w)
            "audio": prepared["audio"][None],  # (1, s)
            "label": label[None],  # (1, k)
        }

    def _forward(self, model_inputs: dict[str, torch.Tensor], num_chunks: int = 1) -> dict[str, torch.Tensor]:
        provider = self.model.backend_model.decoder.output_query_provider
        num_image, num_audio = provider.num_points["image"], provider.num_points["audio"]
        if not 1 <= num_chunks <= min(num_image, num_audio):
            raise ValueError(f"num_chunks must be in [1, {min(num_image, num_audio)}], got {num_chunks}")
        inputs = {k: v.to(self.model.dtype) for k, v in model_inputs.items()}
        device = inputs["image"].device
        image_chunk, audio_chunk = math.ceil(num_image / num_chunks), math.ceil(num_audio / num_chunks)
        outputs: dict[str, list[torch.Tensor]] = {"image": [], "audio": [], "label": []}
        for i in range(num_chunks):
            points = {
                "image": torch.arange(i * image_chunk, min((i + 1) * image_chunk, num_image), device=device),
                "audio": torch.arange(i * audio_chunk, min((i + 1) * audio_chunk, num_audio), device=device),
            }
            logits = self.model(inputs, subsampled_output_points=points).logits
            for modality, value in logits.items():
                outputs[modality].append(value)
        return {
            "image": torch.cat(outputs["image"], dim=1),  # (1, t * h * w, c)
            "audio": torch.cat(outputs["audio"], dim=1),  # (1, s)
            "label": outputs["label"][0],  # (1, k), the same for every chunk
        }

    def postprocess(self, model_outputs: dict[str, torch.Tensor], top_k: int = 5) -> dict[str, Any]:
        enc = self.model.config.backend_config.encoder
        c, h, w = enc.image_shape
        image = model_outputs["image"][0].float().cpu().reshape(enc.num_frames, h, w, c)
        logits = model_outputs["label"][0].float().cpu()
        scores, indices = logits.softmax(-1).topk(min(top_k, logits.numel()))
        id2label = self.model.config.id2label
        return {
            "image": image.numpy(),
            "audio": model_outputs["audio"][0].float().cpu().numpy(),
            "label": logits.numpy(),
            "labels": [
                {"label": id2label.get(int(i), str(int(i))), "score": float(s)}
                for s, i in zip(scores, indices)
            ],
        }


def convert_checkpoint(
    save_dir: str | Path, ckpt_url: str | Path, push_to_hub: bool = False, **hub: Any
) -> PerceiverMultimodalAutoencoder:
    """Convert a perceiver-lightning training checkpoint (local path or URL) of task ``multimodal.autoencoder``
    to a 🤗 model in ``save_dir``. ``hub``: ``repo_id``, ``commit_message``, ``private``, ``token``,
    options of ``push_to_hub=True`` (refused without it)."""
    return convert_checkpoint_to(
        save_dir,
        ckpt_url,
        PerceiverMultimodalAutoencoder,
        "multimodal.autoencoder",
        None,
        push_to_hub,
        hub=hub,
    )


AutoConfig.register(PerceiverMultimodalAutoencoderConfig.model_type, PerceiverMultimodalAutoencoderConfig)
AutoModel.register(PerceiverMultimodalAutoencoderConfig, PerceiverMultimodalAutoencoder)
PIPELINE_REGISTRY.register_pipeline(
    "multimodal-autoencoding",
    pipeline_class=MultimodalAutoencodingPipeline,
    pt_model=PerceiverMultimodalAutoencoder,
)
