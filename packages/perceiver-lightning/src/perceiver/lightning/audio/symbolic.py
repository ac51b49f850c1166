"""Lightning wrapper of the Perceiver AR symbolic audio (MIDI event) model.

At each validation a continuation of the MIDI file ``validation_sample_prompt`` is generated
and written as ``samples/step-<n>.mid`` next to the logger's files (needs perceiver-data's
MIDI processor, the ``audio`` extra of perceiver-data).
"""

from __future__ import annotations

import logging
from pathlib import Path

from perceiver.lightning.text._causal import LitCausalSequenceModel
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
    ) -> None:
        super().__init__()
        self._build(locals())

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
        log_dir = Path(self.logger.log_dir if self.logger is not None else self.trainer.default_root_dir)
        path = log_dir / "samples" / f"step-{self.global_step}.mid"
        path.parent.mkdir(parents=True, exist_ok=True)
        processor.decode(generated[0].tolist()).write(str(path))
        logger.info("validation sample at step %d: %s", self.global_step, path)
        return path
