"""Lightning wrapper of the Perceiver AR causal language model.

At each validation a text continuation of ``validation_sample_prompt`` is generated with the
data module's tokenizer, written to ``<log dir>/samples/step-<n>.txt``, logged at INFO level by
the Python logger and, with a TensorBoard logger, as TensorBoard text.
"""

from __future__ import annotations

import logging
from typing import Any

from perceiver.lightning._causal import LitCausalSequenceModel, check_sample_args
from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig

logger = logging.getLogger(__name__)

__all__ = ["CausalLanguageModel", "CausalLanguageModelConfig", "LitCausalLanguageModel"]


class LitCausalLanguageModel(LitCausalSequenceModel):
    """Args are the fields of ``CausalLanguageModelConfig``, plus:

    Args:
        num_latents: older name of ``max_latents`` (overrides it when given).
        params: initial weights (a checkpoint of this task or a local model directory).
        validation_sample_prompt: text continued at each validation (None: no sample).
        validation_sample_num_tokens: tokens generated for the sample.
        validation_sample_top_k: top-k sampling of the sample (fixed seed).
    """

    task = "text.clm"
    config_class = CausalLanguageModelConfig
    model_class = CausalLanguageModel

    def __init__(
        self,
        vocab_size: int = 262,
        max_seq_len: int = 4096,
        max_latents: int = 512,
        num_channels: int = 512,
        num_heads: int = 8,
        num_self_attention_layers: int = 6,
        num_self_attention_rotary_layers: int = 1,
        self_attention_widening_factor: int = 4,
        cross_attention_widening_factor: int = 4,
        cross_attention_dropout: float = 0.5,
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
        config = CausalLanguageModelConfig(
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
        self.backend_model = CausalLanguageModel(config)
        self.add_metrics(vocab_size)
        if params is not None:
            self.load_params(params)

    def generate_validation_sample(self) -> str | None:
        tokenizer = getattr(getattr(self.trainer, "datamodule", None), "tokenizer", None)
        if tokenizer is None:
            logger.warning("no validation sample: the data module has no tokenizer")
            return None
        encoding = tokenizer(
            [self.hparams.validation_sample_prompt], add_special_tokens=False, return_tensors="pt"
        )
        prompt = encoding["input_ids"].to(self.device)[:, -self.hparams.max_seq_len :]
        generated = self.sample(prompt)
        text = tokenizer.decode(generated[0], skip_special_tokens=True)
        if self.trainer.is_global_zero:
            path = self.sample_path(".txt")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n", encoding="utf-8")  # the prompt and its continuation
            experiment = getattr(self.logger, "experiment", None)
            if hasattr(experiment, "add_text"):
                experiment.add_text("validation_sample", text, self.global_step)
            logger.info("validation sample at step %d (%s): %s", self.global_step, path, text)
        return text
