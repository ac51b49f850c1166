"""Workload: int8 weight-only decoding (``generate(..., quantize="int8")``) against float32.

Speed: the generation workload's model (512 channels, 8 layers, random weights), batch 1, a
512-token prompt, greedy; the cached step compiled (``compile=True``) in float32, in int8, and
int8 with verified drafts (``draft_tokens``: the int8 copy drafts, float32 checks and keeps its
own greedy tokens). The time per token is the time from the first generated token to the last
over the tokens between (the prompt excluded: it runs eagerly), in interleaved repetitions: a
mean rather than a median of the gaps, because verified drafts arrive in bursts.

Quality: a trained model. ``--quantized-checkpoint`` names a perceiver-lightning checkpoint of a
causal LM with the UTF-8 bytes tokenizer (``deepmind/language-perceiver``: byte + 6), e.g. the
quick-start's (``examples/train_clm.py``), and ``--quantized-valid-text`` its held-out text. Without
a checkpoint a small model is trained here on CPython's documentation topics (every 10th topic
held out). Greedy decoding of 256 tokens from 16 prompts of held-out text, float32 against int8
and against int8 with verified drafts: the share of the 16 x 256 positions with equal tokens;
the held-out loss of float32 and int8. Then where the
error comes from: each kind of linear layer quantized alone (the logits' change, the next token
after the same prefix, the greedy tokens), and how often float32's own greedy paths pass a
near-tie (two best tokens less than 0.01 nats apart), where any change to the weights may pick
the other token.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

from perceiver_bench import causal
from perceiver_bench.measure import Check, Measurement, Settings, WorkloadResult

__all__ = ["run"]

logger = logging.getLogger(__name__)
BYTE_OFFSET = 6  # deepmind/language-perceiver: ids 0-5 are special tokens, byte b is id b + 6
DRAFT_TOKENS = 4  # draft_tokens of the verified-drafts variant (docs/generation.md)


@contextlib.contextmanager
def _kept_drafts() -> Iterator[list]:
    """The speculators generate() makes inside the block (their ``kept`` and ``drafted`` counts)."""
    from perceiver.model.core import generation

    made = []
    saved = generation.VerifiedDrafts

    class Counted(saved):
        def __init__(self, *args) -> None:
            super().__init__(*args)
            made.append(self)

    generation.VerifiedDrafts = Counted
    try:
        yield made
    finally:
        generation.VerifiedDrafts = saved


def _per_token_s(model, prompt, num_tokens: int, backend: str, **kwargs) -> float:
    stamps: list[float] = []
    with causal._compile_backend(backend):
        model.generate(
            prompt, num_tokens=num_tokens, compile=True,
            streamer=lambda tokens: (tokens.tolist(), stamps.append(time.perf_counter())), **kwargs,
        )  # fmt: skip
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def _speed(result: WorkloadResult, settings: Settings) -> None:
    cfg = causal.ARBenchConfig.tiny() if settings.tiny else causal.ARBenchConfig()
    model = causal.build_model(cfg).eval()
    prompt = torch.randint(0, cfg.vocab_size, (1, cfg.prompt_len), generator=torch.Generator().manual_seed(2))
    num_tokens = cfg.num_tokens[0]
    variants = {
        "float32, compiled": {},
        "int8, compiled": {"quantize": "int8"},
        f"int8 drafts checked by float32 (draft_tokens={DRAFT_TOKENS}), compiled": {
            "quantize": "int8", "draft_tokens": DRAFT_TOKENS,
        },
    }  # fmt: skip
    start = time.perf_counter()
    for kwargs in variants.values():  # compiles the cached steps (and quantizes the copy)
        _per_token_s(model, prompt, 4 + DRAFT_TOKENS, settings.compile_backend, **kwargs)
    prepare_s = time.perf_counter() - start
    times: dict[str, list[float]] = {name: [] for name in variants}
    with _kept_drafts() as speculators:
        for _ in range(settings.repeats):
            for name, kwargs in variants.items():
                times[name].append(
                    _per_token_s(model, prompt, num_tokens, settings.compile_backend, **kwargs)
                )
    for name, t in times.items():
        result.measurements.append(Measurement("quantized", "time per token", f"perceiver ({name})", t))
    float32_s = statistics.median(times["float32, compiled"])
    setting = (
        f"{cfg.num_channels} channels, {cfg.num_self_attention_layers} layers, mean over {num_tokens} "
        f"tokens, median of {settings.repeats} runs; compiling took {prepare_s:.0f} s"
    )
    result.checks.append(
        Check(
            "time per token: int8 speedup over float32 (compiled cached decoding, batch 1)",
            float32_s / statistics.median(times["int8, compiled"]),
            1.6,
            ">=",
            note=setting,
        )
    )
    kept, drafted = sum(s.kept for s in speculators), sum(s.drafted for s in speculators)
    result.checks.append(
        Check(
            "time per token: int8 drafts checked by float32 (float32's tokens), speedup over float32",
            float32_s / statistics.median(times[list(variants)[2]]),
            1.6,
            ">=",
            note=f"{setting}; {kept / max(drafted, 1):.0%} of the drafts kept (random weights)",
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


# the layer kinds quantized one at a time (the others stay float32), by module name
LAYER_KINDS = {
    "q, k and v projections": lambda name: name.endswith(("q_proj", "k_proj", "v_proj")),
    "attention output projections": lambda name: name.endswith("o_proj"),
    "MLP input layers": lambda name: name.endswith("mlp.1"),
    "MLP output layers": lambda name: name.endswith("mlp.3"),
    "the cross-attention layer": lambda name: ".cross_attn." in name,
    "the self-attention layers": lambda name: ".self_attn." in name,
}
NEAR_TIE = 0.01  # a top-2 logit margin (nats) below this counts as a near-tie
# float32 weights plus Gaussian noise of these fractions of each row's RMS: how large a change
# of the weights free-running greedy decoding tolerates, whatever its origin
NOISE_LEVELS = (0.001, 0.003)


def _noisy(model, level: float):
    """A copy of ``model`` whose linear weights get Gaussian noise of ``level`` x their row's RMS."""
    noisy = copy.deepcopy(model)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in noisy.modules():
            if type(m) is torch.nn.Linear:
                rms = m.weight.pow(2).mean(dim=1, keepdim=True).sqrt()  # (o, 1)
                m.weight.add_(torch.randn(m.weight.shape, generator=g) * rms * level)
    return noisy.eval()


def _int8_error(model) -> float:
    """int8 rounding error of the linear weights, RMS relative to each row's RMS (mean over rows)."""
    from perceiver.model.core import Int8Linear

    errors = []
    for m in model.modules():
        if type(m) is torch.nn.Linear:
            w = m.weight.detach()
            d = Int8Linear.from_linear(m).dequantized_weight() - w
            errors.append(d.pow(2).mean(dim=1).sqrt() / w.pow(2).mean(dim=1).sqrt().clamp_min(1e-12))
    return float(torch.cat(errors).mean())


def _partly_quantized(model, select):
    """A copy of ``model`` with the ``nn.Linear`` layers whose names ``select`` accepts as int8."""
    from perceiver.model.core import Int8Linear

    partly = copy.deepcopy(model)
    names = [n for n, m in partly.named_modules() if type(m) is torch.nn.Linear and select(n)]
    if not names:
        raise ValueError("the layer selection matches no nn.Linear layer of the model")
    with torch.no_grad():
        for name in names:
            parent, _, child = name.rpartition(".")
            setattr(partly.get_submodule(parent), child, Int8Linear.from_linear(partly.get_submodule(name)))
    return partly.eval(), sum(partly.get_submodule(n).weight_int8.numel() for n in names)


def _windows(model, ids: torch.Tensor, max_windows: int) -> torch.Tensor:
    """Held-out windows of ``max_seq_len + 1`` tokens, ``max_latents`` apart."""
    n = model.max_seq_len
    starts = list(range(0, len(ids) - n - 1, model.max_latents))[:max_windows]
    return torch.stack([ids[s : s + n + 1] for s in starts])


def _window_logits(model, windows: torch.Tensor) -> torch.Tensor:
    """Logits of every window's latent positions, (w, max_latents, v)."""
    prefix = model.max_seq_len - model.max_latents
    with torch.inference_mode():
        return torch.cat([model(chunk[:, :-1], prefix_len=prefix) for chunk in windows.split(16)])


def _loss(logits: torch.Tensor, windows: torch.Tensor, max_latents: int) -> float:
    return float(F.cross_entropy(logits.transpose(1, 2), windows[:, -max_latents:]))


def _greedy(model, prompts: torch.Tensor, num_tokens: int, **kwargs) -> torch.Tensor:
    # half the latents: the window restarts every max_latents / 2 tokens, and the steps between
    # are cached (with all max_latents, every step would be a restart: a full forward pass)
    num_latents = max(1, model.max_latents // 2)
    return model.generate(prompts, num_tokens=num_tokens, num_latents=num_latents, **kwargs)[
        :, prompts.shape[1] :
    ]


def _path_margins(model, prompts: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The top-2 logit margin at each step of ``model``'s own greedy path ``tokens``, (b, t)."""
    from perceiver.model.core import IncrementalDecoder

    decoder = IncrementalDecoder(model, max(1, model.max_latents // 2), tokens.shape[1])
    margins = []
    with torch.inference_mode():
        logits = decoder.start(prompts)
        for t in range(tokens.shape[1]):
            top2 = logits.topk(2, dim=-1).values
            margins.append(top2[:, 0] - top2[:, 1])
            if t < tokens.shape[1] - 1:
                logits = decoder.step(tokens[:, t])
    return torch.stack(margins, dim=1)


def _compare(model, prompts, ref_tokens, windows, ref_logits) -> dict:
    """``model`` against float32: greedy tokens, logits and loss on the held-out windows."""
    tokens = _greedy(model, prompts, ref_tokens.shape[1])
    equal = tokens == ref_tokens
    logits = _window_logits(model, windows)
    return {
        "agree": float(equal.float().mean()),
        "per_prompt": equal.float().mean(dim=1).tolist(),
        "first": [ref_tokens.shape[1] if bool(e.all()) else int((~e).nonzero()[0]) for e in equal],
        "logit_rms": float((logits - ref_logits).pow(2).mean().sqrt()),
        "next_token": float((logits.argmax(-1) == ref_logits.argmax(-1)).float().mean()),
        "logits": logits,
    }


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
    num_tokens = 32 if settings.tiny else 256
    num_prompts = 2 if settings.tiny else 16
    prompt_len = min(64, model.max_seq_len)
    g = torch.Generator().manual_seed(3)
    starts = torch.randint(0, len(valid_ids) - prompt_len, (num_prompts,), generator=g).tolist()
    # the prompts decode as one batch: a sequence's tokens do not depend on the others in it
    prompts = torch.stack([valid_ids[s : s + prompt_len] for s in starts])  # (p, prompt_len)
    windows = _windows(model, valid_ids, 8 if settings.tiny else 64)
    ref_tokens = _greedy(model, prompts, num_tokens)
    ref_logits = _window_logits(model, windows)
    loss_f32 = _loss(ref_logits, windows, model.max_latents)
    q = _compare(quantize_for_decoding(model), prompts, ref_tokens, windows, ref_logits)
    loss_int8 = _loss(q["logits"], windows, model.max_latents)
    with _kept_drafts() as speculators:
        drafted_tokens = _greedy(model, prompts, num_tokens, quantize="int8", draft_tokens=DRAFT_TOKENS)
    drafted_equal = drafted_tokens == ref_tokens
    kept, drafted = sum(s.kept for s in speculators), sum(s.drafted for s in speculators)
    near_ties = _path_margins(model, prompts, ref_tokens) < NEAR_TIE  # (p, t)

    result.measurements.append(
        Measurement("quantized", "held-out loss", "perceiver (float32)", [loss_f32], extra={"unit": "nats"})
    )
    result.measurements.append(
        Measurement("quantized", "held-out loss", "perceiver (int8)", [loss_int8], extra={"unit": "nats"})
    )
    result.config["quality_model"] = source
    result.config["quality_prompts"] = (
        f"{num_prompts} held-out prompts of {prompt_len} tokens, {num_tokens} greedy tokens each"
    )
    schedule = (
        f"mean over {num_prompts} held-out prompts of {prompt_len} tokens, num_latents "
        f"{max(1, model.max_latents // 2)} of {model.max_latents}"
    )
    result.checks.append(
        Check(
            f"greedy decoding: share of {num_tokens} tokens equal, int8 drafts checked by float32 "
            "(draft_tokens) vs float32 (trained model)",
            float(drafted_equal.float().mean()),
            0.95,
            ">=",
            note=f"{source}; {schedule}; {kept / max(drafted, 1):.1%} of {drafted} drafts kept",
        )
    )
    result.notes.append(
        f'Int8 alone (`quantize="int8"` without `draft_tokens`): {q["agree"]:.1%} of the greedy tokens '
        f"equal float32's ({schedule}); {sum(f < num_tokens for f in q['first'])} of the "
        f"{num_prompts} continuations part from float32's, at tokens "
        f"{', '.join(str(f) for f in q['first'] if f < num_tokens) or '-'}. Not a target: where float32's "
        "own two best tokens are nearly tied, any change of the weights may pick the other one "
        "(below); the drafts checked by float32 keep float32's tokens."
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
    total = sum(m.weight.numel() for m in model.modules() if type(m) is torch.nn.Linear)
    rows = [("every linear layer (quantize_for_decoding)", total, q)]
    for kind, select in LAYER_KINDS.items():
        partly, quantized = _partly_quantized(model, select)
        rows.append((kind, quantized, _compare(partly, prompts, ref_tokens, windows, ref_logits)))
    int8_error = _int8_error(model)
    for level in NOISE_LEVELS:
        name = f"none: float32 + noise of {level:.1%} of each row's RMS (int8 rounding: {int8_error:.2%})"
        rows.append((name, 0, _compare(_noisy(model, level), prompts, ref_tokens, windows, ref_logits)))
    table = [
        f"Where the int8 error comes from ({source}): one kind of linear layer at a time as int8, the "
        f"others float32; then no int8 but random noise on every float32 weight. Logit change: RMS over "
        f"{len(windows)} held-out windows' latent positions; next token: the choice after the same "
        f"held-out prefix equals float32's; greedy: the share of {num_tokens} free-running tokens "
        f"equal, {num_prompts} prompts.",
        "",
        "| int8 layers | share of linear weights | logit change (RMS, nats) | next token equal | greedy tokens equal |",
        "|---|---|---|---|---|",
    ]
    for kind, quantized, r in rows:
        table.append(
            f"| {kind} | {quantized / total:.0%} | {r['logit_rms']:.3g} | {r['next_token']:.2%} | {r['agree']:.3f} |"
        )
    result.notes.append("\n".join(table))
    result.notes.append(
        f"Float32's own greedy paths pass near-ties: {int(near_ties.any(dim=1).sum())} of the {num_prompts} "
        f"paths have a step whose two best tokens are less than {NEAR_TIE} nats apart "
        f"({float(near_ties.float().mean()):.2%} of all steps), while int8 changes a logit by "
        f"{q['logit_rms']:.3g} nats (RMS). At a near-tie a change of the weights may pick the other "
        "token, and the free-running continuations part from there on."
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
