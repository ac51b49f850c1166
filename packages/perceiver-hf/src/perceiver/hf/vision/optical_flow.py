"""🤗 wrapper of the Perceiver IO optical flow model, conversion of ``deepmind/optical-flow-perceiver``
(transformers' ``PerceiverForOpticalFlow``) and the ``optical-flow`` pipeline.

Input: ``inputs`` (b, 2, 27, h, w), the 3x3 patches of a frame pair in [-1, 1]
(:func:`perceiver.model.vision.extract_patches`), with (h, w) the model's training size.
Output: ``logits``, the flow (b, h, w, 2) in pixels. Larger frames go through
:meth:`OpticalFlowPerceiver.forward_tiled` (the pipeline does this).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, PerceiverConfig, PerceiverForOpticalFlow
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.utils import ModelOutput

from perceiver.hf._base import (
    PerceiverBackendConfig,
    PerceiverBackendModel,
    check_forward_arguments,
    encoder_attributes,
)
from perceiver.hf._convert import (
    convert_checkpoint_to,
    convert_state_dict,
    load_source_model,
    split_hub_options,
)
from perceiver.hf.vision._flow_pipeline import OpticalFlowPipeline
from perceiver.hf.vision._tables import decoder_table, encoder_kwargs, encoder_table
from perceiver.model.vision.optical_flow import (
    OpticalFlow,
    OpticalFlowConfig,
    OpticalFlowDecoderConfig,
    OpticalFlowEncoderConfig,
    end_point_error,
)

__all__ = [
    "OpticalFlowOutput",
    "OpticalFlowPerceiver",
    "OpticalFlowPerceiverConfig",
    "OpticalFlowPipeline",
    "convert_checkpoint",
    "convert_config",
    "convert_model",
    "convert_source_model",
]


@dataclass
class OpticalFlowOutput(ModelOutput):
    """``logits``: flow (b, h, w, 2); ``loss``: end-point error against ``labels``, if given."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None


class OpticalFlowPerceiverConfig(PerceiverBackendConfig):
    model_type = "perceiver-io-optical-flow"
    backend_config_class = OpticalFlowConfig
    legacy_task = "vision.optical_flow"
    standard_attributes = encoder_attributes()

    @classmethod
    def default_backend_config(cls) -> OpticalFlowConfig:
        return OpticalFlowConfig.optical_flow_perceiver()


class OpticalFlowPerceiver(PerceiverBackendModel):
    config_class = OpticalFlowPerceiverConfig
    backend_class = OpticalFlow
    main_input_name = "inputs"
    pipeline_tag = "optical-flow"

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of the inputs the model was trained on."""
        return tuple(self.config.backend_config.encoder.image_shape)

    def forward(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor | None = None,
        valid_mask: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> OpticalFlowOutput:
        """``labels``: target flow (b, h, w, 2); ``valid_mask``: (b, h, w) bool, True where it is valid."""
        check_forward_arguments(self, kwargs)
        flow = self.backend_model(inputs)  # (b, h, w, 2)
        loss = None if labels is None else end_point_error(flow, labels, valid_mask)
        return OpticalFlowOutput(loss=loss, logits=flow)

    @torch.no_grad()
    def forward_tiled(self, inputs: torch.Tensor, overlap: int | tuple[int, int] = 0) -> torch.Tensor:
        """Flow (b, H, W, 2) of patches (b, 2, 27, H, W) at least as large as :attr:`image_shape`,
        from overlapping tiles of the training size (see the core ``OpticalFlow.forward_tiled``)."""
        return self.backend_model.forward_tiled(inputs, overlap=overlap)


def convert_config(config: PerceiverConfig, output_chunk_size: int | None = None) -> OpticalFlowConfig:
    """Backend config of a transformers ``PerceiverForOpticalFlow`` config.

    ``output_chunk_size`` decodes the h * w output queries in chunks (less memory, same result).
    """
    # the preprocessor and decoder settings are fixed in PerceiverForOpticalFlow.__init__
    encoder = OpticalFlowEncoderConfig(
        image_shape=tuple(config.train_size),
        num_patch_input_channels=27,
        num_patch_hidden_channels=64,
        num_frequency_bands=64,
        **encoder_kwargs(config),
    )
    decoder = OpticalFlowDecoderConfig(
        num_cross_attention_heads=1,
        cross_attention_residual=False,
        rescale_factor=100.0,
        output_chunk_size=output_chunk_size,
        dropout=config.attention_probs_dropout_prob,
        init_scale=config.initializer_range,
    )
    return OpticalFlowConfig(
        encoder=encoder, decoder=decoder, num_latents=config.num_latents, num_latent_channels=config.d_latents
    )


def _key_table(config: PerceiverConfig) -> list[tuple[str, str]]:
    table = encoder_table(config)
    table.append(("perceiver.input_preprocessor.conv_after_patches.", "encoder.input_adapter.linear."))
    return table + decoder_table("perceiver.decoder.decoder")


def convert_source_model(
    source: PerceiverForOpticalFlow, output_chunk_size: int | None = None
) -> OpticalFlowPerceiver:
    """Our 🤗 model with the weights of a transformers ``PerceiverForOpticalFlow``."""
    if not isinstance(source, PerceiverForOpticalFlow):
        raise ValueError(f"expected a PerceiverForOpticalFlow, got {type(source).__name__}")
    config = OpticalFlowPerceiverConfig(convert_config(source.config, output_chunk_size))
    model = OpticalFlowPerceiver(config)
    target_keys = model.backend_model.state_dict().keys()
    state = convert_state_dict(source.state_dict(), _key_table(source.config), target_keys)
    model.backend_model.load_state_dict(state, strict=True)
    return model.eval()


def convert_model(
    save_dir: str | Path,
    source_repo_id: str | Path = "deepmind/optical-flow-perceiver",
    output_chunk_size: int | None = None,
    push_to_hub: bool = False,
    **kwargs,
) -> OpticalFlowPerceiver:
    """Convert ``deepmind/optical-flow-perceiver`` (a Hub id or a local directory transformers
    saved) and save it to ``save_dir``; ``pipeline("optical-flow", model=save_dir)`` loads it."""
    hub, kwargs = split_hub_options("convert_model", push_to_hub, kwargs)
    source = load_source_model(PerceiverForOpticalFlow, source_repo_id, **kwargs)
    model = convert_source_model(source, output_chunk_size)
    model.save_pretrained(save_dir, push_to_hub=push_to_hub, **hub)
    return model


def convert_checkpoint(
    save_dir: str | Path, ckpt_url: str | Path, push_to_hub: bool = False, **hub: Any
) -> OpticalFlowPerceiver:
    """Convert a perceiver-lightning training checkpoint (local path or URL) of task ``vision.optical_flow``
    to a 🤗 model in ``save_dir``. ``hub``: ``repo_id``, ``commit_message``, ``private``, ``token``,
    options of ``push_to_hub=True`` (refused without it)."""
    return convert_checkpoint_to(
        save_dir, ckpt_url, OpticalFlowPerceiver, "vision.optical_flow", None, push_to_hub, hub=hub
    )


AutoConfig.register(OpticalFlowPerceiverConfig.model_type, OpticalFlowPerceiverConfig)
AutoModel.register(OpticalFlowPerceiverConfig, OpticalFlowPerceiver)
PIPELINE_REGISTRY.register_pipeline(
    "optical-flow", pipeline_class=OpticalFlowPipeline, pt_model=OpticalFlowPerceiver
)
