"""Workload: int8 weight-only decoding (``generate(..., quantize="int8")``) against float32.

Speed: the generation workload's model (512 channels, 8 layers, random weights), batch 1, a
512-token prompt, greedy; the cached step compiled (``compile=True``) in float32 and in int8.
The time per token is the median over the generated tokens of the time between two tokens
(prompt and restarts excluded: they run eagerly), in interleaved repetitions.

Quality: a trained model. ``--quantized-checkpoint`` names a perceiver-lightning checkpoint of a
causal LM with the UTF-8 bytes tokenizer (``deepmind/language-perceiver``: byte + 6), e.g. the
quick-start's (``examples/train_clm.py``), and ``--quantized-valid-text`` its held-out text. Without
a checkpoint a small model is trained here on CPython's documentation topics (every 10th topic
held out). Greedy decoding of 256 tokens from prompts of held-out text, float32 against int8:
the share of the 256 positions with equal tokens; the held-out loss of both.
"""

from __future__ import annotations

import itertools
import logging
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from perceiver_bench import causal
from perceiver_bench.measure import Check, Measurement, Settings, WorkloadResult

__all__ = ["run"]

logger = logging.getLogger(__name__)
BYTE_OFFSET = 6  # deepmind/language-perceiver: ids 0-5 are special tokens, byte b is id b + 6


def _per_token_s(model, prompt, num_tokens: int, compile: bool, quantize: str | None, backend: str) -> float:
    stamps: list[float] = []
    with causal._compile_backend(backend):
        model.generate(
            prompt, num_tokens=num_tokens, compile=compile, quantize=quantize,
            streamer=lambda tokens: (tokens.tolist(), stamps.append(time.perf_counter())),
        )  # fmt: skip
    return statistics.median(b - a for a, b in itertools.pairwise(stamps))


def _speed(result: WorkloadResult, settings: Settings) -> None:
    cfg = causal.ARBenchConfig.tiny() if settings.tiny else causal.ARBenchConfig()
    model = causal.build_model(cfg).eval()
    prompt = torch.randint(0, cfg.vocab_size, (1, cfg.prompt_len), generator=torch.Generator().manual_seed(2))
    num_tokens = cfg.num_tokens[0]
    variants = {"float32, compiled": None, "int8, compiled": "int8"}
    start = time.perf_counter()
    for quantize in variants.values():  # compiles the cached steps (and quantizes the copy)
        _per_token_s(model, prompt, 4, True, quantize, settings.compile_backend)
    prepare_s = time.perf_counter() - start
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(settings.repeats):
        for name, quantize in variants.items():
            times[name].append(
                _per_token_s(model, prompt, num_tokens, True, quantize, settings.compile_backend)
            )
    for name, t in times.items():
        result.measurements.append(Measurement("quantized", "time per token", f"perceiver ({name})", t))
    speedup = statistics.median(times["float32, compiled"]) / statistics.median(times["int8, compiled"])
    result.checks.append(
        Check(
            "time per token: int8 speedup over float32 (compiled cached decoding, batch 1)",
            speedup,
            1.6,
            ">=",
            note=f"{cfg.num_channels} channels, {cfg.num_self_attention_layers} layers, median over "
            f"{num_tokens} tokens; compiling both took {prepare_s:.0f} s",
        )
    )
    linears = [m for m in model.modules() if type(m) is torch.nn.Linear]
    f32_mb = sum(m.weight.numel() * 4 for m in linears) / 1e6
    int8_mb = sum(m.weight.numel() + m.out_features * 4 for m in linears) / 1e6
    result.notes.append(
        f"Linear weights read per step: {f32_mb:.1f} MB in float32, {int8_mb:.1f} MB as int8 with "
        "float32 scales (norms, embeddings and the tied output projection stay float32)."
    )


# --- the trained model ---------------------------------------------------------------------


def _pydoc_split() -> tuple[str, str]:
    from pydoc_data.topics import topics

    names = sorted(topics)
    train = "\n\n".join(topics[n] for i, n in enumerate(names) if i % 10 != 5)
    valid = "\n\n".join(topics[n] for i, n in enumerate(names) if i % 10 == 5)
    return train, valid


def _ids(text: str) -> torch.Tensor:
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long) + BYTE_OFFSET


def _train(settings: Settings, train_ids: torch.Tensor):
    """A small causal LM trained on ``train_ids`` (the quick-start's shape, fewer steps)."""
    from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig

    tiny = settings.tiny
    torch.manual_seed(0)
    config = CausalLanguageModelConfig(
        vocab_size=262, max_seq_len=32 if tiny else 128, max_latents=16 if tiny else 64,
        num_channels=32 if tiny else 128, num_heads=4, num_self_attention_layers=1 if tiny else 3,
        cross_attention_dropout=0.1,
    )  # fmt: skip
    model = CausalLanguageModel(config)
    steps, batch = (5, 4) if tiny else (600, 16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(0)
    n, prefix = config.max_seq_len, config.max_seq_len - config.max_latents
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, len(train_ids) - n - 1, (batch,), generator=g)
        seq = torch.stack([train_ids[s : s + n + 1] for s in starts.tolist()])
        logits = model(seq[:, :-1], prefix_len=prefix)
        loss = F.cross_entropy(logits.transpose(1, 2), seq[:, prefix + 1 :])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return model.eval(), f"trained here: {steps} steps of batch {batch} on CPython's documentation topics"


def _load(path: Path):
    from perceiver.model.core.checkpoint import load_checkpoint, read_backend
    from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig

    config, state = read_backend(load_checkpoint(path), "text.clm", CausalLanguageModelConfig, str(path))
    if config is None:
        raise ValueError(f"--quantized-checkpoint {path} records no hyperparameters")
    model = CausalLanguageModel(config)
    model.load_state_dict(state)
    return (
        model.eval(),
        f"checkpoint {path.name} ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters)",
    )


def _held_out_loss(model, ids: torch.Tensor, max_windows: int) -> float:
    n = model.max_seq_len
    prefix = n - model.max_latents
    starts = list(range(0, len(ids) - n - 1, model.max_latents))[:max_windows]
    seq = torch.stack([ids[s : s + n + 1] for s in starts])
    with torch.inference_mode():
        losses = [
            F.cross_entropy(model(chunk[:, :-1], prefix_len=prefix).transpose(1, 2), chunk[:, prefix + 1 :])
            for chunk in seq.split(16)
        ]
    return float(torch.stack(losses).mean())


def _quality(result: WorkloadResult, settings: Settings) -> None:
    from perceiver.model.core import quantize_for_decoding

    if settings.quantized_checkpoint:
        model, source = _load(Path(settings.quantized_checkpoint))
        if not settings.quantized_valid_text:
            raise ValueError("--quantized-checkpoint needs --quantized-valid-text (its held-out text file)")
        valid_ids = _ids(Path(settings.quantized_valid_text).read_text(encoding="utf-8"))
    else:
        train_text, valid_text = _pydoc_split()
        model, source = _train(settings, _ids(train_text))
        valid_ids = _ids(valid_text)
    q = quantize_for_decoding(model)
    num_tokens = 32 if settings.tiny else 256
    num_prompts = 2 if settings.tiny else 4
    prompt_len = min(64, model.max_seq_len)
    g = torch.Generator().manual_seed(3)
    starts = torch.randint(0, len(valid_ids) - prompt_len, (num_prompts,), generator=g).tolist()
    agree, same_prefix = [], []
    for s in starts:
        prompt = valid_ids[s : s + prompt_len][None]
        num_latents = min(prompt_len, model.max_latents)
        ref = model.generate(prompt, num_tokens=num_tokens, num_latents=num_latents)[0, prompt_len:]
        out = q.generate(prompt, num_tokens=num_tokens, num_latents=num_latents)[0, prompt_len:]
        equal = ref == out
        agree.append(float(equal.float().mean()))
        same_prefix.append(num_tokens if bool(equal.all()) else int((~equal).nonzero()[0]))
    loss_f32 = _held_out_loss(model, valid_ids, 8 if settings.tiny else 64)
    loss_int8 = _held_out_loss(q, valid_ids, 8 if settings.tiny else 64)
    result.measurements.append(
        Measurement("quantized", "held-out loss", "perceiver (float32)", [loss_f32], extra={"unit": "nats"})
    )
    result.measurements.append(
        Measurement("quantized", "held-out loss", "perceiver (int8)", [loss_int8], extra={"unit": "nats"})
    )
    result.config["quality_model"] = source
    result.checks.append(
        Check(
            f"greedy decoding: share of {num_tokens} tokens equal, int8 vs float32 (trained model)",
            statistics.mean(agree),
            0.95,
            ">=",
            note=f"{source}; mean over {num_prompts} held-out prompts of {prompt_len} tokens "
            f"(per prompt {', '.join(f'{a:.3f}' for a in agree)}; first difference at token "
            f"{', '.join(map(str, same_prefix))})",
        )
    )
    result.checks.append(
        Check(
            "held-out loss: int8 / float32 - 1 (trained model)",
            loss_int8 / loss_f32 - 1,
            0.01,
            "<=",
            note=f"float32 {loss_f32:.4f}, int8 {loss_int8:.4f} nats per token",
        )
    )


def run(settings: Settings) -> WorkloadResult:
    torch._dynamo.reset()
    result = WorkloadResult(
        "quantized",
        "Int8 weight-only decoding against float32 (compiled cached decoding, batch 1; a trained model's tokens and loss)",
        {"precision": "int8 weights (per output channel, symmetric), float32 activations"},
    )
    _speed(result, settings)
    _quality(result, settings)
    return result
