"""Lightning wrapper of the Perceiver AR symbolic audio (MIDI event) model.

At each validation a continuation of the MIDI file ``validation_sample_prompt`` is generated
and written as ``samples/step-<n>.mid`` next to the logger's files (needs perceiver-data's
MIDI processor, the ``audio`` extra of perceiver-data).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from perceiver.lightning._causal import LitCausalSequenceModel, check_sample_args
from perceiver.model.audio.symbolic import SymbolicAudioModel, SymbolicAudioModelConfig

logger = logging.getLogger(__name__)

__all__ = ["LitSymbolicAudioModel", "SymbolicAudioModel", "SymbolicAudioModelConfig"]


class LitSymbolicAudioModel(LitCausalSequenceModel):
    """Args are the fields of ``SymbolicAudioModelConfig``, plus ``params`` and the sample options
    of :class:`~perceiver.lightning.text.clm.LitCausalLanguageModel` (the prompt is a MIDI file)."""

    task = "audio.symbolic"
    config_class = SymbolicAudioModelConfig
    model_class = SymbolicAudioModel

    def __init__(
        self,
        vocab_size: int = 389,
        max_seq_len: int = 6144,
        max_latents: int = 2048,
        num_channels: int = 512,
        num_heads: int = 8,
        num_self_attention_layers: int = 8,
        num_self_attention_rotary_layers: int = 1,
        self_attention_widening_factor: int = 4,
        cross_attention_widening_factor: int = 4,
        cross_attention_dropout: float = 0.1,
        post_attention_dropout: float = 0.0,
        residual_dropout: float = 0.0,
        output_norm: bool = False,
        output_bias: bool = True,
        abs_pos_emb: bool = True,
        init_scale: float = 0.02,
        activation_checkpointing: bool = False,
        latent_kv_norm: str = "kv",
        num_latents: int | None = None,
        params: str | None = None,
        validation_sample_prompt: str | None = None,
        validation_sample_num_tokens: int = 64,
        validation_sample_top_k: int = 10,
        optimizer: str | dict[str, Any] | None = "AdamW",
        lr_scheduler: str | dict[str, Any] | None = "CosineWithWarmupLR",
    ) -> None:
        super().__init__()
        check_sample_args(validation_sample_prompt, validation_sample_num_tokens, validation_sample_top_k)
        config = SymbolicAudioModelConfig(
            vocab_size=vocab_size,
            max_seq_len=max_seq_len,
            max_latents=max_latents if num_latents is None else num_latents,
            num_channels=num_channels,
            num_heads=num_heads,
            num_self_attention_layers=num_self_attention_layers,
            num_self_attention_rotary_layers=num_self_attention_rotary_layers,
            self_attention_widening_factor=self_attention_widening_factor,
            cross_attention_widening_factor=cross_attention_widening_factor,
            cross_attention_dropout=cross_attention_dropout,
            post_attention_dropout=post_attention_dropout,
            residual_dropout=residual_dropout,
            output_norm=output_norm,
            output_bias=output_bias,
            abs_pos_emb=abs_pos_emb,
            init_scale=init_scale,
            activation_checkpointing=activation_checkpointing,
            latent_kv_norm=latent_kv_norm,
        )
        self.save_config_hyperparameters(
            config,
            params=params,
            validation_sample_prompt=validation_sample_prompt,
            validation_sample_num_tokens=validation_sample_num_tokens,
            validation_sample_top_k=validation_sample_top_k,
            optimizer=optimizer,
            lr_scheduler=lr_scheduler,
        )
        self.backend_model = SymbolicAudioModel(config)
        self.add_metrics(vocab_size)
        if params is not None:
            self.load_params(params)

    def setup(self, stage: str) -> None:
        super().setup(stage)
        prompt = self.hparams.validation_sample_prompt
        if stage == "fit" and prompt is not None and not Path(prompt).is_file():
            # before training, not at the end of the first epoch
            raise FileNotFoundError(f"validation_sample_prompt={prompt!r} is not a MIDI file")

    def generate_validation_sample(self) -> Path | None:
        try:
            from perceiver.data.audio import MidiProcessor, decode_midi  # noqa: F401
        except ImportError as e:
            logger.warning("no validation sample: the MIDI processor of perceiver-data is missing (%s)", e)
            return None
        import torch

        datamodule = getattr(self.trainer, "datamodule", None)
        processor = getattr(datamodule, "processor", None) or MidiProcessor()
        tokens = processor.encode(self.hparams.validation_sample_prompt)
        prompt = torch.tensor(tokens[-self.hparams.max_seq_len :], device=self.device)[None]
        generated = self.sample(prompt)
        if not self.trainer.is_global_zero:
            return None
        path = self.sample_path(".mid")
        path.parent.mkdir(parents=True, exist_ok=True)
        processor.decode(generated[0].tolist()).write(str(path))
        logger.info("validation sample at step %d: %s", self.global_step, path)
        return path
