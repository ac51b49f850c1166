"""Config and parameter-name tables of krasserm/perceiver-io 0.11 models (perceiver.model.core.legacy).

Outputs of converted models are compared with perceiver-io's own in perceiver-hf's tests, on
fixtures that perceiver-io wrote; here: the tables' defaults, derived values and errors.
"""

import re

import pytest
import torch

from perceiver.model.core.legacy import TASKS, legacy_config, legacy_state_dict
from perceiver.model.text.clm import CausalLanguageModel

ENCODER = {"vocab_size": 32, "max_seq_len": 12, "num_input_channels": 16}
MLM = {
    "encoder": ENCODER,
    "decoder": {"vocab_size": 32, "max_seq_len": 12},
    "num_latents": 4,
    "num_latent_channels": 24,
}


def test_masked_language_model_config_takes_perceiver_io_defaults_and_derived_channels():
    config = legacy_config("text.mlm", MLM)
    enc, dec = config.encoder, config.decoder
    assert enc.num_self_attention_layers_per_block == 8  # perceiver-io's default (ours: 6)
    assert enc.num_cross_attention_heads == 8
    # perceiver-io's cross-attention qk channels default to the latent channels, v to qk
    assert (enc.num_cross_attention_qk_channels, enc.num_cross_attention_v_channels) == (24, 24)
    assert (enc.num_self_attention_qk_channels, enc.num_self_attention_v_channels) == (24, 24)
    # the decoder's to its query channels: the encoder's input channels
    assert (dec.num_cross_attention_qk_channels, dec.num_cross_attention_v_channels) == (16, 16)
    assert dec.cross_attention_residual is True


def test_causal_language_model_config_sets_the_query_norm_rule():
    config = legacy_config("text.clm", {"num_channels": 16, "num_heads": 2, "max_heads_parallel": 1})
    assert config.latent_kv_norm == "q"
    assert config.num_self_attention_layers == 8  # perceiver-io's default (ours: 6)
    assert (config.max_seq_len, config.max_latents, config.vocab_size) == (4096, 512, 262)


def test_image_classifier_config_turns_the_image_shape_channels_first():
    config = legacy_config(
        "vision.image_classifier",
        {
            "encoder": {"image_shape": [6, 5, 2], "num_frequency_bands": 3, "num_cross_attention_heads": 1},
            "decoder": {"num_output_query_channels": 8, "num_classes": 4, "num_cross_attention_heads": 2},
            "num_latents": 4,
            "num_latent_channels": 8,
        },
    )
    assert config.encoder.image_shape == (2, 6, 5)
    assert config.encoder.num_cross_attention_qk_channels == 2 + 2 * (2 * 3 + 1)  # pixels + Fourier
    assert config.decoder.num_cross_attention_qk_channels == 8


@pytest.mark.parametrize(
    "task, model_config, message",
    [
        (
            "text.mlm",
            {**MLM, "encoder": {**ENCODER, "num_layers": 2}},
            r"model_config.encoder.*\['num_layers'\]",
        ),
        ("text.mlm", {**MLM, "extra": 1}, r"model_config.*\['extra'\]"),
        ("text.mlm", {k: v for k, v in MLM.items() if k != "num_latents"}, r"missing: \['num_latents'\]"),
        ("text.mlm", {**MLM, "decoder": {"num_output_query_channels": 8}}, "num_output_query_channels=8"),
        ("text.mlm", {**MLM, "encoder": "x"}, "model_config.encoder must be a dict"),
        (
            "text.clm",
            {"num_channels": 18, "num_heads": 2, "abs_pos_emb": False},
            r"9 channels per head, an odd number, with abs_pos_emb=false",
        ),
        ("text.clm", {"num_channels": 4, "num_heads": 4}, r"1 channel per head, of which .* rotates none"),
        (
            "text.clm",
            {"num_channels": 20, "num_heads": 3},
            r"num_heads \(3\) must divide num_channels \(20\)",
        ),
        ("audio.symbolic", {"latent_kv_norm": "q"}, r"\['latent_kv_norm'\]"),
        (
            "vision.optical_flow",
            {
                "encoder": {"image_shape": [4, 5]},
                "decoder": {"image_shape": [4, 6]},
                "num_latents": 4,
                "num_latent_channels": 8,
            },
            r"decoder.image_shape \(4, 6\) must equal model_config.encoder.image_shape \(4, 5\)",
        ),
        ("text.seq2seq", {}, "task must be one of"),
    ],
)
def test_what_the_config_tables_do_not_cover_is_named(task, model_config, message):
    with pytest.raises(ValueError, match=message):
        legacy_config(task, model_config)


def test_every_task_has_tables():
    for task in TASKS:
        with pytest.raises(ValueError, match="model_config"):
            legacy_config(task, {"no_such_field": 1})
        assert legacy_state_dict(task, {}) == {}


def _perceiver_io_ar_state(num_layers: int) -> dict[str, torch.Tensor]:
    """perceiver-io's Perceiver AR parameter names (from its module structure), random values."""
    c, h = 8, 32
    names = {
        "input_adapter.txt_embedding.weight": (10, c),
        "input_adapter.pos_embedding.weight": (12, c),
        "input_adapter.frq_pos_encoding.inv_freq": (1,),
        "cross_attention.0.module.q_norm.weight": (c,),
        "cross_attention.0.module.q_norm.bias": (c,),
        "cross_attention.0.module.kv_norm.weight": (c,),
        "cross_attention.0.module.kv_norm.bias": (c,),
        "cross_attention.0.module.attention.q_proj.weight": (c, c),
        "cross_attention.0.module.attention.k_proj.weight": (c, c),
        "cross_attention.0.module.attention.v_proj.weight": (c, c),
        "cross_attention.0.module.attention.o_proj.weight": (c, c),
        "cross_attention.0.module.attention.o_proj.bias": (c,),
        "cross_attention.1.module.0.weight": (c,),
        "cross_attention.1.module.0.bias": (c,),
        "cross_attention.1.module.1.weight": (h, c),
        "cross_attention.1.module.3.weight": (c, h),
        "output_adapter.bias": (10,),
    }
    for i in range(num_layers):
        names |= {
            f"self_attention.{i}.0.module.norm.weight": (c,),
            f"self_attention.{i}.0.module.norm.bias": (c,),
            **{f"self_attention.{i}.0.module.attention.{p}_proj.weight": (c, c) for p in "qkvo"},
            f"self_attention.{i}.1.module.0.weight": (c,),
            f"self_attention.{i}.1.module.0.bias": (c,),
            f"self_attention.{i}.1.module.1.weight": (h, c),
            f"self_attention.{i}.1.module.3.weight": (c, h),
        }
    return {name: torch.randn(shape) for name, shape in names.items()}


def test_perceiver_ar_state_gets_zero_biases_and_fits_our_model():
    config = legacy_config(
        "text.clm",
        {"vocab_size": 10, "max_seq_len": 12, "max_latents": 4, "num_channels": 8, "num_heads": 2,
         "num_self_attention_layers": 2, "cross_attention_widening_factor": 4},
    )  # fmt: skip
    source = _perceiver_io_ar_state(2)
    state = legacy_state_dict("text.clm", source)
    model = CausalLanguageModel(config)
    model.load_state_dict(state, strict=True)  # every parameter covered, nothing left over
    assert torch.equal(state["perceiver_ar.cross_attn.cross_attn.attention.q_proj.bias"], torch.zeros(8))
    assert torch.equal(state["perceiver_ar.self_attn.1.mlp.1.bias"], torch.zeros(32))
    assert torch.equal(
        state["perceiver_ar.cross_attn.cross_attn.attention.o_proj.bias"],
        source["cross_attention.0.module.attention.o_proj.bias"],
    )
    assert torch.equal(
        state["perceiver_ar.input_adapter.pos_embedding.position_embedding"],
        source["input_adapter.pos_embedding.weight"],
    )


def test_unmapped_parameter_names_are_named():
    source = _perceiver_io_ar_state(1)
    source["cross_attention.0.module.attention.rel_pos.weight"] = torch.zeros(1)
    source["self_attention.0.2.module.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"rel_pos\.weight', 'self_attention\.0\.2\.module\.weight'\]"):
        legacy_state_dict("text.clm", source)


def test_a_bias_perceiver_io_never_had_is_refused():
    source = _perceiver_io_ar_state(1)
    source["self_attention.0.0.module.attention.q_proj.bias"] = torch.zeros(8)
    with pytest.raises(
        ValueError, match=re.escape("has no 'perceiver_ar.self_attn.0.self_attn.attention.q_proj.bias'")
    ):
        legacy_state_dict("text.clm", source)


def test_perceiver_io_positions_call_says_what_replaces_it():
    from perceiver.model.core.position import positions

    for old_call in (
        lambda: positions(2, 5),
        lambda: positions(2, 5, shift=torch.zeros(2, 1, dtype=torch.long)),
        lambda: positions(b=2, n=5, shift=None),  # perceiver-io 0.11's tests/kv_cache_test.py
    ):
        with pytest.raises(
            TypeError, match=r"perceiver-io 0\.11's signature; use positions\(pad_mask, batch_size"
        ):
            old_call()
    # the replacement: 0.11's shift (left padding) is a pad mask
    shift = torch.tensor([[0], [2]])
    pad_mask = torch.arange(5) < shift
    expected = (torch.arange(5).expand(2, 5) - shift).clamp(min=0)  # 0.11's positions(2, 5, shift)
    assert torch.equal(positions(pad_mask, 2, 5), expected)
    assert torch.equal(positions(None, 2, 5), torch.arange(5).expand(2, 5))


def test_perceiver_io_causal_sequence_model_call_says_what_replaces_it():
    from perceiver.model.core import CausalSequenceModel
    from perceiver.model.text.clm import CausalLanguageModelConfig

    config = CausalLanguageModelConfig(
        vocab_size=32,
        max_seq_len=16,
        max_latents=4,
        num_channels=16,
        num_heads=2,
        num_self_attention_layers=1,
    )
    with pytest.raises(TypeError, match=r"keyword arguments only .* CausalLanguageModel\(config\)"):
        CausalSequenceModel(config)
    torch.manual_seed(0)
    model = CausalSequenceModel(**config.to_dict()).eval()  # the replacement named by the message
    torch.manual_seed(0)
    reference = CausalLanguageModel(config).eval()
    x = torch.randint(0, 32, (2, 10))
    with torch.no_grad():
        torch.testing.assert_close(model(x, prefix_len=6), reference(x, prefix_len=6), rtol=0, atol=0)
