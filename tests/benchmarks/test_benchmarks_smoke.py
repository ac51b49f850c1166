"""Smoke test of the benchmark suite (benchmarks/ at the repository root, run in full by
``nox -s bench``); it needs perceiver-core, perceiver-hf and transformers.

Every workload runs on a tiny config with one repetition; the test asserts that result rows
are produced and that the outputs agree (ours vs transformers, cached vs uncached, compiled vs
eager), so the suite cannot rot. Timing and memory targets are not asserted here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if not (BENCHMARKS / "perceiver_bench").is_dir():
    pytest.skip(f"the benchmark suite is not in {BENCHMARKS}", allow_module_level=True)
sys.path.insert(0, str(BENCHMARKS))

from perceiver_bench.measure import Settings  # noqa: E402
from perceiver_bench.report import markdown, markers, write_markdown  # noqa: E402
from perceiver_bench.run import WORKLOADS, main, run_suite  # noqa: E402

AGREEMENT = ("difference", "==", "compiled - eager")
# run apart from the others (ONNX export takes a while): each fixture has its own time limit
SEPARATE = ("onnx",)


@pytest.fixture(scope="module")
def suite():
    import torch

    threads = torch.get_num_threads()
    try:
        settings = Settings(repeats=1, warmup=0, tiny=True, threads=2, compile_backend="aot_eager")
        return run_suite(settings, only=[name for name in WORKLOADS if name not in SEPARATE])
    finally:
        torch.set_num_threads(threads)


def test_every_workload_produces_rows(suite):
    assert [w["workload"] for w in suite["workloads"]] == [name for name in WORKLOADS if name not in SEPARATE]
    assert suite["peak_flops"] > 0
    for w in suite["workloads"]:
        assert w["measurements"], w["workload"]
        for row in w["measurements"]:
            assert row["median_s"] > 0, (w["workload"], row["case"])


def test_flops_and_memory_are_measured(suite):
    by_name = {w["workload"]: w for w in suite["workloads"]}
    for name in ("mlm", "flow", "ar_train"):
        for row in by_name[name]["measurements"]:
            if row["impl"] not in ("perceiver", "transformers"):
                continue  # extra rows (activation checkpointing) time and measure memory only
            assert row["flops"] > 0 and row["peak_bytes"] > 0 and row["mfu"] > 0, (name, row)
    # ours and transformers' implementations do about the same matmul work (not exactly:
    # attention padded to one head size counts the padded channels)
    rows = {(r["case"], r["impl"]): r for r in by_name["mlm"]["measurements"]}
    for case in ("forward", "train step"):
        assert rows[case, "perceiver"]["flops"] == pytest.approx(rows[case, "transformers"]["flops"], rel=0.2)


def test_the_training_step_is_broken_down_by_operator(suite):
    (ar,) = [w for w in suite["workloads"] if w["workload"] == "ar_train"]
    row = next(r for r in ar["measurements"] if r["impl"] == "perceiver")
    breakdown = row["extra"]["breakdown"]
    parts = breakdown["parts"]
    assert list(parts) == ["matmul", "attention", "norm", "optimizer", "other ops"]
    assert breakdown["wall_s"] > sum(p["s"] for p in parts.values())
    assert all(p["s"] > 0 and p["calls"] > 0 for p in parts.values()), parts
    # the FLOPs of the categories add up to the step's count, almost all of it in matmuls
    assert sum(p["flops"] for p in parts.values()) == row["flops"]
    assert parts["matmul"]["flops"] > 0.5 * row["flops"] and parts["attention"]["flops"] > 0
    assert parts["norm"]["flops"] == parts["optimizer"]["flops"] == 0
    assert parts["optimizer"]["calls"] >= 1  # the fused AdamW kernel
    text = markdown(json.loads(json.dumps(suite)), [])
    assert "| outside operators |" in text and "its matmuls alone took" in text


def test_small_perceiver_ar_is_timed_against_the_plain_gpt_and_the_plain_perceiver_ar(suite):
    (small,) = [w for w in suite["workloads"] if w["workload"] == "ar_small"]
    rows = {(r["case"], r["impl"]): r for r in small["measurements"]}
    cases = ["train step, 1 thread", "train step, 2 threads", "train step, 2 threads, competing process"]
    impls = ("perceiver", "plain Perceiver AR", "plain GPT")
    assert set(rows) == {(case, impl) for case in cases for impl in impls}
    for row in rows.values():
        assert row["flops"] > 0 and row["extra"]["operators"] > 0, row
    # the hand-written Perceiver AR does the library's arithmetic, the GPT less
    case = cases[0]
    assert rows[case, "plain Perceiver AR"]["flops"] == rows[case, "perceiver"]["flops"]
    assert rows[case, "plain GPT"]["flops"] < rows[case, "perceiver"]["flops"]
    names = [c["name"] for c in small["checks"]]
    assert names == [
        "train step, 1 thread: time vs plain GPT",
        "train step, 1 thread: time vs the same model in plain PyTorch",
        "train step, 2 threads: time vs plain GPT",
        "train step, 2 threads: time vs the same model in plain PyTorch",
        "2 threads, competing process: slowdown vs the plain GPT's slowdown",
    ]
    assert all(c["value"] > 0 for c in small["checks"])
    assert "| ar_small |" in markdown(json.loads(json.dumps(suite)), [])


@pytest.mark.parametrize("training", [False, True], ids=["eval", "training with prefix dropout"])
def test_the_plain_perceiver_ar_computes_the_library_model(training):
    """The framework-overhead reference is like for like: the library's weights loaded into the
    hand-written model give its logits and gradients (prefix dropout drawing the same prefix)."""
    import torch
    from perceiver_bench.plain_ar import PlainPerceiverAR

    from perceiver.model.text.clm import CausalLanguageModel, CausalLanguageModelConfig

    torch.manual_seed(0)
    config = CausalLanguageModelConfig(
        vocab_size=50,
        max_seq_len=24,
        max_latents=8,
        num_channels=32,
        num_heads=2,
        num_self_attention_layers=2,
    )
    model = CausalLanguageModel(config).train(training)
    plain = PlainPerceiverAR(50, 24, 32, 2, 2).load_from(model).train(training)
    x = torch.randint(0, 50, (3, 24))
    torch.manual_seed(1)
    ours = model(x, prefix_len=16)
    torch.manual_seed(1)
    theirs = plain(x, 16)
    assert ours.shape == theirs.shape == (3, 8, 50)
    tolerance = {"rtol": 1e-5, "atol": 1e-7}  # logits of order 1e-2 at this init: atol well below
    torch.testing.assert_close(theirs, ours, **tolerance)
    ours.square().sum().backward()
    theirs.square().sum().backward()
    grads = {
        "token embedding": (model.perceiver_ar.input_adapter.txt_embedding.weight, plain.tok.weight),
        "last MLP": (model.perceiver_ar.self_attn[-1].mlp[3].weight, plain.blocks[-1].mlp[3].weight),
        "cross-attention queries": (
            model.perceiver_ar.cross_attn.cross_attn.attention.q_proj.weight, plain.cross.attn.q.weight
        ),
    }  # fmt: skip
    for name, (a, b) in grads.items():
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-7, msg=name)
    with torch.no_grad():  # and the comparison sees a change of one weight
        plain.blocks[0].attn.qkv.weight[0, 0] += 0.5
    torch.manual_seed(1)
    assert not torch.allclose(plain(x, 16), ours, **tolerance)


def test_outputs_agree(suite):
    checks = [(w["workload"], c) for w in suite["workloads"] for c in w["checks"]]
    agreement = [(name, c) for name, c in checks if any(key in c["name"] for key in AGREEMENT)]
    assert {name for name, _ in agreement} >= {"mlm", "flow", "generation", "compile"}
    for name, c in agreement:
        assert c["passed"], (name, c)


def test_quantized_workload_reports_speed_agreement_and_loss(suite):
    (q,) = [w for w in suite["workloads"] if w["workload"] == "quantized"]
    impls = {(row["case"], row["impl"]) for row in q["measurements"]}
    from perceiver_bench.quantized import DRAFT_TOKENS

    assert impls == {
        ("time per token", "perceiver (float32, compiled)"),
        ("time per token", "perceiver (int8, compiled)"),
        (
            "time per token",
            f"perceiver (int8 drafts checked by float32 (draft_tokens={DRAFT_TOKENS}), compiled)",
        ),
        ("held-out loss", "perceiver (float32)"),
        ("held-out loss", "perceiver (int8)"),
    }
    names = [c["name"].split(":")[0] for c in q["checks"]]
    assert names == ["time per token", "time per token", "greedy decoding", "held-out loss"]
    checks = {c["name"].split(":")[0]: c for c in q["checks"]}
    # drafts checked by float32 keep float32's greedy tokens, whatever int8 alone does
    assert checks["greedy decoding"]["value"] == 1.0
    assert "drafts kept" in checks["greedy decoding"]["note"]
    assert any(n.startswith("Int8 alone") for n in q["notes"])
    assert "trained here" in q["config"]["quality_model"]  # no checkpoint given: it trains one
    # a tiny model trained for a few steps: int8 rounding moves its held-out loss by little
    assert abs(checks["held-out loss"]["value"]) < 0.05
    # where the error comes from: every linear layer, then one layer kind at a time
    from perceiver_bench.quantized import LAYER_KINDS, NOISE_LEVELS

    (table,) = [n for n in q["notes"] if n.startswith("Where the int8 error comes from")]
    rows = [
        [c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines() if line.startswith("| ")
    ][1:]
    kinds = [r[0] for r in rows]
    assert kinds[: 1 + len(LAYER_KINDS)] == ["every linear layer (quantize_for_decoding)", *LAYER_KINDS]
    assert len(rows) == 1 + len(LAYER_KINDS) + len(NOISE_LEVELS)
    assert all(k.startswith("none: float32 + noise") for k in kinds[1 + len(LAYER_KINDS) :])
    assert rows[0][1] == "100%"
    for kind, share, logit_rms, next_token, greedy in rows:
        assert 0 <= float(share.strip("%")) <= 100
        assert float(share.strip("%")) > 0 or kind.startswith("none")
        assert 0 < float(logit_rms) < 0.5  # int8 or noise changes the logits a little
        assert 0.5 <= float(next_token.strip("%")) / 100 <= 1 and 0 <= float(greedy) <= 1
    assert any(n.startswith("Float32's own greedy paths pass near-ties") for n in q["notes"])


def test_onnx_workload_agrees_with_pytorch():
    """ONNX Runtime against PyTorch eager: rows for the text classifier and the decoding step,
    outputs within 1e-4 and greedy tokens equal (needs the onnx extra of perceiver-hf)."""
    import torch

    for module in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(
            module, reason='the onnx extra is not installed: pip install "perceiver-hf[onnx]"'
        )
    threads = torch.get_num_threads()
    try:
        run = run_suite(Settings(repeats=1, warmup=0, tiny=True, threads=2), only=["onnx"])
    finally:
        torch.set_num_threads(threads)
    (onnx,) = run["workloads"]
    impls = {(row["case"].split(" (")[0], row["impl"]) for row in onnx["measurements"]}
    for case in ("text classifier forward", "decoding step"):
        assert {(case, "perceiver (PyTorch eager)"), (case, "perceiver (ONNX Runtime)")} <= impls
    agreement = [c for c in onnx["checks"] if any(key in c["name"] for key in AGREEMENT)]
    assert len(agreement) == 3 and all(c["passed"] for c in agreement), agreement
    assert "| onnx |" in markdown(json.loads(json.dumps(run)), [])


def test_report_is_written(suite, tmp_path):
    path = tmp_path / "performance.md"
    path.write_text("# Performance\n\nhand-written text\n")
    text = markdown(json.loads(json.dumps(suite)), [])
    write_markdown(path, text)
    write_markdown(path, text)  # idempotent: the generated block is replaced, not appended
    content = path.read_text()
    assert content.startswith("# Performance\n\nhand-written text")
    assert content.count("### Targets") == 1
    assert "| mlm |" in content


def test_report_leads_with_the_results(suite):
    text = markdown(json.loads(json.dumps(suite)), ["docs/performance-scaling.png"])
    order = ["## Results", "### Targets", "Workloads:", "### Plots", "### Setup", "### Measurements"]
    positions = [text.index(heading) for heading in order]
    assert positions == sorted(positions), dict(zip(order, positions))
    assert "![performance-scaling](performance-scaling.png)" in text
    assert "seed" not in text.lower()


def test_render_rewrites_the_page_from_the_json_without_measuring(tmp_path, monkeypatch):
    import torch

    threads = torch.get_num_threads()
    try:
        run = run_suite(Settings(repeats=1, warmup=0, tiny=True), only=["scaling_encoder"])
    finally:
        torch.set_num_threads(threads)
    results = tmp_path / "results.json"
    results.write_text(json.dumps(run))
    page = tmp_path / "performance.md"
    begin, end = markers()
    page.write_text(f"# Performance\n\nintroduction\n\n{begin}\nold results\n{end}\n\n## Method\n\nhow\n")
    (tmp_path / "performance-generation.png").write_bytes(b"an earlier plot")

    def no_measuring(*args, **kwargs):
        raise AssertionError("--render must not run the suite")

    monkeypatch.setattr("perceiver_bench.run.run_suite", no_measuring)
    main(["--render", "--no-plots", "--json", str(results), "--markdown", str(page)])
    content = page.read_text()
    assert content.startswith("# Performance\n\nintroduction") and content.endswith("## Method\n\nhow\n")
    assert content.index("### Targets") < content.index("## Method") and "old results" not in content
    assert content.count(begin) == 1 and "| scaling_encoder |" in content
    assert "![performance-generation](performance-generation.png)" in content  # the plot is kept
    assert "performance-scaling.png" not in content  # no such plot: not referenced
    with pytest.raises(SystemExit, match="does not exist"):
        main(["--render", "--json", str(tmp_path / "missing.json"), "--markdown", str(page)])


def test_bf16_mixed_precision_runs_and_is_reported(tmp_path):
    """The GPU run's precision (autocast to bfloat16), here on the CPU: the same code path but
    for the device, so that the suite is ready when a session has a GPU."""
    import torch

    threads = torch.get_num_threads()
    settings = Settings(
        repeats=1, warmup=0, tiny=True, compile_backend="aot_eager", precision="bf16-mixed", ar_batch_size=3
    )
    try:
        run = run_suite(settings, only=["mlm", "ar_train", "generation"])
    finally:
        torch.set_num_threads(threads)
    assert run["machine"]["precision"] == "bf16-mixed" and run["settings"]["ar_batch_size"] == 3
    by_name = {w["workload"]: w for w in run["workloads"]}
    assert by_name["ar_train"]["config"]["batch_size"] == 3
    for c in by_name["mlm"]["checks"]:
        if "difference" in c["name"]:
            assert c["passed"] and c["target"] == settings.tolerance, c
    # greedy tokens are compared by their common prefix in bfloat16, not required to be equal
    assert any("agree on the first" in note for note in by_name["generation"]["notes"])
    path = tmp_path / "performance.md"
    write_markdown(path, markdown(run, []), marker="bench-cuda")
    write_markdown(path, "CPU results")  # the CPU section beside it
    content = path.read_text()
    assert "bfloat16 autocast" in content and "CPU results" in content
    assert content.count("<!-- bench-cuda:begin") == 1 and content.count("<!-- bench:begin") == 1


def test_settings_name_bad_values():
    import torch

    with pytest.raises(ValueError, match=r"precision must be one of .*got 'fp8'"):
        Settings(precision="fp8")
    with pytest.raises(ValueError, match="ar_batch_size must be positive, got 0"):
        Settings(ar_batch_size=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device is 'cuda', but torch sees no CUDA device"):
            Settings(device="cuda")


def test_keep_going_records_a_failing_workload(monkeypatch):
    def broken(settings):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setitem(WORKLOADS, "scaling_ar", broken)
    settings = Settings(repeats=1, warmup=0, tiny=True)
    with pytest.raises(RuntimeError, match="simulated"):
        run_suite(settings, only=["scaling_ar"])
    run = run_suite(settings, only=["scaling_ar"], keep_going=True)
    (failed,) = run["workloads"]
    assert failed["title"] == "scaling_ar (failed)" and not failed["measurements"]
    assert "out of memory (simulated)" in failed["notes"][0]
    assert "scaling_ar (failed)" in markdown(run, [])


def test_merge_keeps_each_kept_workload_dated_by_the_run_that_measured_it():
    from perceiver_bench.run import _merge

    def workload(name: str, *notes: str) -> dict:
        return {"workload": name, "notes": list(notes), "measurements": [], "checks": []}

    def run(date: str, cpu: str, peak: float, command: str, name: str) -> dict:
        return {
            "date": date, "machine": {"cpu": cpu}, "peak_flops": peak, "command": command,
            "workloads": [workload(name)],
        }  # fmt: skip

    second = _merge(
        run("day-1", "cpu-a", 2e11, "full run", "mlm"), run("day-2", "cpu-b", 3e11, "--only flow", "flow")
    )
    third = _merge(second, run("day-3", "cpu-b", 3e11, "--only onnx", "onnx"))
    notes = {w["workload"]: w["notes"] for w in third["workloads"]}
    assert notes == {
        "mlm": ["From the run of day-1 on cpu-a (matmul peak 200.0 GFLOP/s)."],  # not re-dated later
        "flow": ["From the run of day-2 on cpu-b (matmul peak 300.0 GFLOP/s)."],
        "onnx": [],  # measured by this run
    }
    assert third["command"] == "full run; --only flow; --only onnx"
    assert [w["workload"] for w in third["workloads"]] == ["mlm", "flow", "onnx"]  # the suite's order
