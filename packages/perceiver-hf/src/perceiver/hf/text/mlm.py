"""🤗 wrapper of the Perceiver IO masked language model, and conversion of
``deepmind/language-perceiver`` (transformers' ``PerceiverForMaskedLM``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoTokenizer,
    PerceiverConfig,
    PerceiverForMaskedLM,
)
from transformers.modeling_outputs import MaskedLMOutput

from perceiver.hf._base import (
    PerceiverBackendConfig,
    PerceiverBackendModel,
    check_class_labels,
    check_forward_arguments,
    encoder_attributes,
)
from perceiver.hf._convert import (
    convert_state_dict,
    convert_text_checkpoint,
    load_source_model,
    perceiver_layer_table,
    split_hub_options,
)
from perceiver.hf.tokenizer import PerceiverBytesTokenizer
from perceiver.model.core.masks import pad_mask_from_attention_mask
from perceiver.model.text.mlm import (
    MaskedLanguageModel,
    MaskedLanguageModelConfig,
    TextDecoderConfig,
    TextEncoderConfig,
)

__all__ = [
    "PerceiverMaskedLanguageModel",
    "PerceiverMaskedLanguageModelConfig",
    "convert_checkpoint",
    "convert_config",
    "convert_model",
]


class PerceiverMaskedLanguageModelConfig(PerceiverBackendConfig):
    model_type = "perceiver-io-masked-language-model"
    backend_config_class = MaskedLanguageModelConfig
    legacy_task = "text.mlm"
    standard_attributes = encoder_attributes(with_sequence=True)

    @classmethod
    def default_backend_config(cls) -> MaskedLanguageModelConfig:
        return MaskedLanguageModelConfig.language_perceiver()


class PerceiverMaskedLanguageModel(PerceiverBackendModel):
    config_class = PerceiverMaskedLanguageModelConfig
    backend_class = MaskedLanguageModel
    main_input_name = "input_ids"
    auto_class_name = "AutoModelForMaskedLM"
    pipeline_tag = "fill-mask"

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.backend_model.encoder.input_adapter.txt_embedding

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MaskedLMOutput:
        """``attention_mask``: 1 = token, 0 = padding (the 🤗 convention); ``labels``: -100 = ignore."""
        check_forward_arguments(self, kwargs)
        pad_mask = pad_mask_from_attention_mask(attention_mask)
        logits = self.backend_model(input_ids, pad_mask=pad_mask)
        loss = None
        if labels is not None:
            check_class_labels(labels, tuple(logits.shape[:-1]), logits.shape[-1], ignore_index=-100)
            loss = F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits)


def convert_config(config: PerceiverConfig) -> MaskedLanguageModelConfig:
    """Backend config of a transformers ``PerceiverForMaskedLM`` config."""
    if not config.use_query_residual:
        raise ValueError("use_query_residual=False in the encoder is not supported")
    # transformers' defaults: cross-attention qk channels follow the key/value input ("kv"),
    # self-attention qk channels the latents; v channels follow qk
    cross_qk = config.qk_channels or (
        config.d_model if config.cross_attention_shape_for_attention == "kv" else config.d_latents
    )
    self_qk = config.qk_channels or config.d_latents
    encoder = TextEncoderConfig(
        vocab_size=config.vocab_size,
        max_seq_len=config.max_position_embeddings,
        num_input_channels=config.d_model,
        num_cross_attention_heads=config.num_cross_attention_heads,
        num_cross_attention_qk_channels=cross_qk,
        num_cross_attention_v_channels=config.v_channels or cross_qk,
        cross_attention_widening_factor=config.cross_attention_widening_factor,
        num_self_attention_heads=config.num_self_attention_heads,
        num_self_attention_qk_channels=self_qk,
        num_self_attention_v_channels=config.v_channels or self_qk,
        num_self_attention_layers_per_block=config.num_self_attends_per_block,
        num_self_attention_blocks=config.num_blocks,
        self_attention_widening_factor=config.self_attention_widening_factor,
        dropout=config.attention_probs_dropout_prob,
        init_scale=config.initializer_range,
    )
    # PerceiverForMaskedLM's decoder has fixed attention sizes: 8 heads of 32 qk channels
    decoder = TextDecoderConfig(
        vocab_size=config.vocab_size,
        max_seq_len=config.max_position_embeddings,
        num_cross_attention_heads=8,
        num_cross_attention_qk_channels=8 * 32,
        num_cross_attention_v_channels=config.d_model,
        cross_attention_residual=False,
        dropout=config.attention_probs_dropout_prob,
        init_scale=config.initializer_range,
    )
    return MaskedLanguageModelConfig(
        encoder=encoder, decoder=decoder, num_latents=config.num_latents, num_latent_channels=config.d_latents
    )


def _key_table(config: PerceiverConfig) -> list[tuple[str, str]]:
    table = [
        ("perceiver.input_preprocessor.embeddings.weight", "encoder.input_adapter.txt_embedding.weight"),
        (
            "perceiver.input_preprocessor.position_embeddings.weight",
            "encoder.input_adapter.pos_embedding.position_embedding",
        ),
        ("perceiver.embeddings.latents", "encoder.latent_provider._queries"),
        (
            "perceiver.decoder.output_position_encodings.position_embeddings",
            "decoder.output_query_provider.position_encoding.position_embedding",
        ),
        ("embedding_decoder.bias", "decoder.output_adapter.bias"),
    ]
    table += perceiver_layer_table(
        "perceiver.encoder.cross_attention", "encoder.cross_attn_1", cross_attention=True
    )
    for i in range(config.num_self_attends_per_block):
        table += perceiver_layer_table(
            f"perceiver.encoder.self_attends.{i}", f"encoder.self_attn_1.{i}", cross_attention=False
        )
    table += perceiver_layer_table(
        "perceiver.decoder.decoding_cross_attention", "decoder.cross_attn", cross_attention=True
    )
    return table


def convert_source_model(source: PerceiverForMaskedLM) -> PerceiverMaskedLanguageModel:
    """Our 🤗 model with the weights of a transformers ``PerceiverForMaskedLM``."""
    if not isinstance(source, PerceiverForMaskedLM):
        raise ValueError(f"expected a PerceiverForMaskedLM, got {type(source).__name__}")
    config = PerceiverMaskedLanguageModelConfig(convert_config(source.config))
    model = PerceiverMaskedLanguageModel(config)
    target_keys = model.backend_model.state_dict().keys()
    state = convert_state_dict(source.state_dict(), _key_table(source.config), target_keys)
    model.backend_model.load_state_dict(state, strict=True)
    return model.eval()


def convert_model(
    save_dir: str | Path,
    source_repo_id: str | Path = "deepmind/language-perceiver",
    push_to_hub: bool = False,
    **kwargs,
) -> PerceiverMaskedLanguageModel:
    """Convert ``deepmind/language-perceiver`` (a Hub id or a local directory transformers saved)
    and save it with its UTF-8 bytes tokenizer to ``save_dir``."""
    hub, kwargs = split_hub_options("convert_model", push_to_hub, kwargs)
    from transformers import PerceiverTokenizer

    model = convert_source_model(load_source_model(PerceiverForMaskedLM, source_repo_id, **kwargs))
    tokenizer = PerceiverTokenizer(model_max_length=model.config.backend_config.encoder.max_seq_len)
    model.save_pretrained(save_dir, push_to_hub=push_to_hub, **hub)
    tokenizer.save_pretrained(save_dir, push_to_hub=push_to_hub, **hub)
    return model


def convert_checkpoint(
    save_dir: str | Path,
    ckpt_url: str | Path,
    tokenizer_name: str | bool | None = True,
    push_to_hub: bool = False,
    **hub: Any,
) -> PerceiverMaskedLanguageModel:
    """Convert a perceiver-lightning training checkpoint (local path or URL) of task ``text.mlm``
    to a 🤗 model in ``save_dir``, with its tokenizer saved alongside.

    Args:
        tokenizer_name: True: the tokenizer the model was trained with (named by the checkpoint's
            data module; the UTF-8 bytes tokenizer where it names none); a name or path: that
            tokenizer; None: no tokenizer. It is saved as in training: special tokens only where
            training added them, the training's padding side, ``model_max_length`` = the model's
            ``max_seq_len``.
        hub: ``repo_id``, ``commit_message``, ``private``, ``token``: options of
            ``push_to_hub=True`` (as perceiver-io 0.11's ``**kwargs``); refused without it.
    """
    return convert_text_checkpoint(
        save_dir, ckpt_url, PerceiverMaskedLanguageModel, "text.mlm", tokenizer_name, push_to_hub, hub=hub
    )


AutoConfig.register(PerceiverMaskedLanguageModelConfig.model_type, PerceiverMaskedLanguageModelConfig)
AutoModelForMaskedLM.register(PerceiverMaskedLanguageModelConfig, PerceiverMaskedLanguageModel)
AutoModel.register(PerceiverMaskedLanguageModelConfig, PerceiverMaskedLanguageModel)
AutoTokenizer.register(PerceiverMaskedLanguageModelConfig, slow_tokenizer_class=PerceiverBytesTokenizer)
