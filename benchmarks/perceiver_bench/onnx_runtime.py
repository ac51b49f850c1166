"""Workload 8: ONNX Runtime against PyTorch eager on the CPU, for the graphs of
``perceiver.hf.onnx``: a text classifier's forward pass and one cached decoding step of the
Perceiver AR of the generation workload (batch 1).

Both run with the suite's thread count (ONNX Runtime's ``intra_op_num_threads``), repetitions
interleaved. The decoding step is timed at a fixed cache length: the PyTorch cache is rewound
to its length after the prefill before each step, and ONNX Runtime gets the same past keys and
values each time (its step graph does not change its inputs). Outputs must agree to 1e-4, and
greedy decoding with ONNX Runtime must give the tokens of ``generate()``.

Export time (``torch.onnx.export``, dynamo exporter) is reported, not timed against anything.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from perceiver_bench import causal
from perceiver_bench.measure import Check, Measurement, Settings, WorkloadResult, time_interleaved

__all__ = ["TextClassifierBenchConfig", "run"]


@dataclass
class TextClassifierBenchConfig:
    """A byte-level review classifier (the size of the IMDB sentiment example)."""

    vocab_size: int = 262
    max_seq_len: int = 512
    num_input_channels: int = 64
    num_latents: int = 64
    num_latent_channels: int = 256
    num_heads: int = 4
    num_self_attention_layers: int = 6
    num_classes: int = 2
    batch_size: int = 8

    @classmethod
    def tiny(cls) -> TextClassifierBenchConfig:
        return cls(
            vocab_size=40, max_seq_len=16, num_input_channels=16, num_latents=4, num_latent_channels=16,
            num_heads=2, num_self_attention_layers=1, batch_size=2,
        )  # fmt: skip


def build_classifier(cfg: TextClassifierBenchConfig):
    from perceiver.model.core import ClassificationDecoderConfig
    from perceiver.model.text.classifier import TextClassifier, TextClassifierConfig
    from perceiver.model.text.mlm import TextEncoderConfig

    torch.manual_seed(0)
    encoder = TextEncoderConfig(
        vocab_size=cfg.vocab_size,
        max_seq_len=cfg.max_seq_len,
        num_input_channels=cfg.num_input_channels,
        num_cross_attention_heads=cfg.num_heads,
        num_self_attention_heads=cfg.num_heads,
        num_self_attention_layers_per_block=cfg.num_self_attention_layers,
    )
    decoder = ClassificationDecoderConfig(
        num_classes=cfg.num_classes,
        num_output_query_channels=cfg.num_latent_channels,
        num_cross_attention_heads=1,
    )
    config = TextClassifierConfig(encoder, decoder, cfg.num_latents, cfg.num_latent_channels)
    return TextClassifier(config).eval()


def _session_options(threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    return options


def _speedup(result: WorkloadResult, case: str) -> float:
    eager = result.get(case, "perceiver (PyTorch eager)").median_s
    return eager / result.get(case, "perceiver (ONNX Runtime)").median_s


def _compare(
    result: WorkloadResult, case: str, what: str, times, eager, onnx, export_s: float, note: str
) -> None:
    """Record the eager and ONNX Runtime timings of ``case`` and check their outputs and speedup."""
    result.measurements.append(Measurement("onnx", case, "perceiver (PyTorch eager)", times["eager"]))
    result.measurements.append(
        Measurement("onnx", case, "perceiver (ONNX Runtime)", times["onnx"], extra={"export_s": export_s})
    )
    diff = float(np.abs(onnx() - eager().numpy()).max())
    result.checks.append(
        Check(f"{what}: max difference of ONNX Runtime and PyTorch logits", diff, 1e-4, "<=")
    )
    result.checks.append(
        Check(
            f"{what}: ONNX Runtime speedup over PyTorch eager", _speedup(result, case), 1.0, ">=", note=note
        )
    )


def run(settings: Settings) -> WorkloadResult:
    result = WorkloadResult("onnx", "ONNX Runtime vs PyTorch eager (CPU, float32)", {})
    if torch.device(settings.device).type != "cpu" or settings.precision != "32":
        result.notes.append("ONNX Runtime is compared on the CPU in float32 only; not run here")
        return result
    import onnxruntime as ort

    from perceiver.hf.onnx import OnnxCausalLanguageModel, export_onnx, export_onnx_decoder

    ccfg = TextClassifierBenchConfig.tiny() if settings.tiny else TextClassifierBenchConfig()
    acfg = causal.ARBenchConfig.tiny() if settings.tiny else causal.ARBenchConfig()
    result.config = {
        "text_classifier": {k: v for k, v in vars(ccfg).items()},
        "decoding": {
            "num_channels": acfg.num_channels, "num_self_attention_layers": acfg.num_self_attention_layers,
            "max_seq_len": acfg.max_seq_len, "max_latents": acfg.max_latents, "prompt_len": acfg.prompt_len,
            "batch_size": 1,
        },
        "threads": settings.threads,
        "onnxruntime": ort.__version__,
    }  # fmt: skip
    options = _session_options(settings.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _classifier(result, settings, ccfg, tmp, options, export_onnx)
        _decoding(result, settings, acfg, tmp, options, export_onnx_decoder, OnnxCausalLanguageModel)
    return result


def _classifier(result, settings, cfg, tmp, options, export_onnx) -> None:
    import onnxruntime as ort

    model = build_classifier(cfg)
    start = time.perf_counter()
    path = export_onnx(model, tmp / "classifier.onnx")
    export_s = time.perf_counter() - start
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, cfg.vocab_size, (cfg.batch_size, cfg.max_seq_len), generator=gen)
    pad_mask = torch.zeros_like(ids, dtype=torch.bool)
    pad_mask[0, cfg.max_seq_len // 2 :] = True  # one shorter review, padded
    feeds = {"input_ids": ids.numpy(), "attention_mask": (~pad_mask).long().numpy()}

    def eager():
        with torch.inference_mode():
            return model(ids, pad_mask)

    def onnx():
        return session.run(None, feeds)[0]

    case = f"text classifier forward (batch {cfg.batch_size}, {cfg.max_seq_len} tokens)"
    times = time_interleaved({"eager": eager, "onnx": onnx}, settings.repeats, settings.warmup)
    _compare(result, case, "text classifier", times, eager, onnx, export_s, f"export took {export_s:.0f} s")


def _decoding(result, settings, cfg, tmp, options, export_onnx_decoder, OnnxCausalLanguageModel) -> None:
    model = causal.build_model(cfg).eval()
    start = time.perf_counter()
    directory = export_onnx_decoder(model, tmp / "decoder", num_latents=cfg.num_latents)
    export_s = time.perf_counter() - start
    onnx_model = OnnxCausalLanguageModel(directory, session_options=options)
    gen = torch.Generator().manual_seed(2)
    prompt = torch.randint(0, cfg.vocab_size, (1, cfg.prompt_len), generator=gen)

    # PyTorch: prefill, then one step from the same cache length each time
    cache = model.create_cache()
    prefix_len = cfg.prompt_len - cfg.num_latents
    with torch.inference_mode():
        token = model(prompt, prefix_len, None, cache)[:, -1].argmax(-1)[:, None]  # (1, 1)
    caches = [cache.cross_attention, *cache.self_attention]
    lengths = [c.length for c in caches]
    positions = cache.next_positions.clone()

    def eager():
        for c, n in zip(caches, lengths, strict=True):
            c.length = n  # rewind: the step's keys are written over the last step's
        cache.next_positions = positions
        with torch.inference_mode():
            return model(token, 0, None, cache)[:, -1]

    # ONNX Runtime: the same prefill through the prefill graph, then the step graph's session
    onnx_cache = onnx_model.create_cache()
    onnx_model(prompt, prefix_len, None, onnx_cache)
    feeds = onnx_model.step_inputs(token.numpy(), onnx_cache)

    def onnx():
        return onnx_model.step_session.run(["logits"], feeds)[0]

    case = f"decoding step (batch 1, {cfg.prompt_len} cached tokens)"
    times = time_interleaved(
        {"eager": eager, "onnx": onnx}, max(settings.repeats, 1) * 4, settings.warmup + 1
    )
    _compare(
        result,
        case,
        "decoding step",
        times,
        eager,
        onnx,
        export_s,
        f"export of both graphs took {export_s:.0f} s",
    )
    num_tokens = cfg.num_tokens[0]
    expected = model.generate(prompt, num_tokens=num_tokens, num_latents=cfg.num_latents)
    actual = onnx_model.generate(prompt, num_tokens=num_tokens)
    result.checks.append(
        Check(
            f"greedy tokens ({num_tokens}): ONNX Runtime == generate()",
            float(torch.equal(actual, expected)),
            1.0,
            ">=",
        )
    )
