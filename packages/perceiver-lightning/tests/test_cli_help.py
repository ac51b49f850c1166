"""Every model option of every training script has help text in ``--help``.

The help of the config fields comes from the core config dataclasses' docstrings (their
``Args:`` sections), where jsonargparse reads it; nested configs (``--model.encoder``) are
listed with ``--model.encoder.help <class>``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re

import pytest

SCRIPTS = [
    "perceiver.scripts.text.mlm",
    "perceiver.scripts.text.classifier",
    "perceiver.scripts.text.clm",
    "perceiver.scripts.audio.symbolic",
    "perceiver.scripts.vision.image_classifier",
    "perceiver.scripts.vision.optical_flow",
    "perceiver.scripts.multimodal.autoencoder",
]

_OPTION = re.compile(r"^  (--model\.[\w.]+)(.*)$")
# what jsonargparse appends to every help text: type, default, known subclasses
_TYPE_INFO = re.compile(r"\((required, )?type: .*$", re.S)


def _help(module: str, *args: str) -> str:
    main = importlib.import_module(module).main
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.raises(SystemExit) as exit_info,
    ):
        main(["fit", *args])
    assert exit_info.value.code in (0, None), err.getvalue()[-2000:]
    return out.getvalue()


def _model_options(text: str) -> dict[str, str]:
    """``--model.*`` option -> its help text without jsonargparse's type and default."""
    options: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        match = _OPTION.match(line)
        if match:
            current = match.group(1)
            rest = match.group(2).strip()
            # "  --model.x X      help" puts the help on the option's line after 2+ spaces
            inline = re.split(r"\s{2,}", rest, maxsplit=1)
            options[current] = [inline[1]] if len(inline) == 2 else []
        elif current and line.startswith(" " * 6) and not line.lstrip().startswith("-"):
            options[current].append(line.strip())
        else:
            current = None
    return {name: _TYPE_INFO.sub("", " ".join(lines)).strip() for name, lines in options.items()}


def _nested_classes(text: str) -> dict[str, str]:
    """``--model.<name>`` options that take a config class -> the class named in their help."""
    found = {}
    for name in _model_options(text):
        if name.endswith(".help"):
            option = name.removesuffix(".help")
            block = text[text.index(f"\n  {option} ") + 1 :]
            block = block[: block.find("\n  --") % (len(block) + 1)]
            block = re.sub(r"\n\s+", "", block)  # argparse wraps long class paths mid-word
            default = re.search(r"'class_path':\s*'([\w.]+)'", block)
            assert default, f"{option} has no default config class"
            found[option] = default.group(1)
    return found


@pytest.mark.parametrize("module", SCRIPTS)
def test_every_model_option_has_help(module):
    text = _help(module, "--help")
    options = {k: v for k, v in _model_options(text).items() if not k.endswith(".help")}
    assert "--model.num_latents" in options or "--model.max_latents" in options, sorted(options)
    missing = sorted(name for name, help_text in options.items() if not help_text)
    assert not missing, f"{module}: model options without help: {missing}"
    for option, config_class in _nested_classes(text).items():
        nested = _model_options(_help(module, f"{option}.help", config_class))
        fields = {k: v for k, v in nested.items() if k.startswith(option + ".") and not k.endswith(".help")}
        assert fields, f"{module}: {option}.help {config_class} lists no fields"
        missing = sorted(name for name, help_text in fields.items() if not help_text)
        assert not missing, f"{module}: {config_class} fields without help: {missing}"


def test_help_names_the_qk_channels_rule():
    text = _help(
        "perceiver.scripts.vision.image_classifier",
        "--model.encoder.help",
        "perceiver.model.vision.image_classifier.ImageEncoderConfig",
    )
    help_text = _model_options(text)["--model.encoder.num_cross_attention_qk_channels"]
    assert "cross_attention_qk_channels_default" in help_text and '"keys" in the vision' in help_text


@pytest.mark.parametrize(
    "indent", ["    ", ""], ids=["indented docstring", "dedented docstring (Python 3.13)"]
)
def test_wrapper_docstring_gets_the_config_field_docs_in_its_one_args_section(indent):
    """Python 3.13 strips a docstring's indentation when it compiles it; earlier versions keep
    it. Either way the config fields' docs join the wrapper's own Args section (docstring
    parsers read only one, so a second section would hide them from ``--help``)."""
    from perceiver.lightning._io import LitPerceiverIO
    from perceiver.model.core.config import field_docs
    from perceiver.model.text.mlm import MaskedLanguageModel, MaskedLanguageModelConfig

    def __init__(self, encoder, decoder, num_latents=256, activation_checkpointing=False, params=None):
        raise NotImplementedError  # only the signature is read

    doc = f"A wrapper.\n\n{indent}Args:\n{indent}    params: initial weights.\n{indent}"
    namespace = {"__doc__": doc, "__module__": __name__, "__init__": __init__, "task": "text.mlm"}
    namespace |= {"config_class": MaskedLanguageModelConfig, "model_class": MaskedLanguageModel}
    wrapper = type("LitWrapper", (LitPerceiverIO,), namespace)
    assert wrapper.__doc__.count("Args:") == 1, wrapper.__doc__
    docs = field_docs(wrapper)
    assert docs["params"] == "initial weights."
    for name in ("encoder", "decoder", "num_latents", "activation_checkpointing"):
        assert docs.get(name), (name, wrapper.__doc__)
