"""The one table of tokenizer names (plain data, no transformers) and the Hub availability rule."""

import socket
import time

import pytest

from perceiver.model.text.tokenizer_names import (
    MODEL_TOKENIZERS,
    UTF8_BYTES_TOKENIZER,
    TokenizerUnavailableError,
    hub_unavailable_reason,
    tokenizer_candidates,
)

PROXIES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def test_models_map_to_the_tokenizer_they_were_trained_with():
    for name in (
        "deepmind/language-perceiver",
        "krasserm/perceiver-io-mlm",
        "krasserm/perceiver-io-txt-clf-imdb",
    ):
        assert tokenizer_candidates(name) == (UTF8_BYTES_TOKENIZER,)
    # Perceiver AR on C4 used XLNet's SentencePiece tokenizer, not UTF-8 bytes; its repository holds a copy
    assert tokenizer_candidates("krasserm/perceiver-ar-clm-base") == (
        "xlnet/xlnet-base-cased",
        "krasserm/perceiver-ar-clm-base",
    )
    assert tokenizer_candidates("bert-base-uncased") == ("bert-base-uncased",)
    with pytest.raises(TypeError):
        MODEL_TOKENIZERS["x"] = "y"  # read-only


def test_offline_flags_make_the_hub_unavailable_without_a_network_call(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("no connection may be attempted in offline mode")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_unavailable_reason() == "HF_HUB_OFFLINE is set"
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "true")
    assert hub_unavailable_reason() == "TRANSFORMERS_OFFLINE is set"


def test_an_unreachable_hub_is_reported_at_once(monkeypatch):
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", *PROXIES):
        monkeypatch.delenv(variable, raising=False)
    with socket.socket() as server:  # a port that refuses connections once closed
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    reason = hub_unavailable_reason(timeout=2.0)
    assert reason is not None and reason.startswith(f"127.0.0.1:{port} cannot be reached")
    assert time.monotonic() - start < 5
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert hub_unavailable_reason() is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")  # behind a proxy: no probe
    assert hub_unavailable_reason() is None


def test_unavailable_error_is_both_os_and_value_error():
    assert issubclass(TokenizerUnavailableError, OSError) and issubclass(
        TokenizerUnavailableError, ValueError
    )


class _Loaded:
    def __init__(self, source, **kwargs):
        self.source, self.kwargs = source, kwargs


def _load(name, calls=None, cached=()):
    from perceiver.model.text.tokenizer_names import load_named_tokenizer

    def from_pretrained(source, **kwargs):
        if calls is not None:
            calls.append((source, kwargs.get("local_files_only", False)))
        if kwargs.get("local_files_only") and source not in cached:
            raise OSError(f"{source} is not cached")
        return _Loaded(source, **kwargs)

    return load_named_tokenizer(
        name, from_pretrained=from_pretrained, utf8_bytes=lambda **kw: _Loaded(UTF8_BYTES_TOKENIZER, **kw)
    )


def test_load_named_tokenizer_follows_the_table(tmp_path, monkeypatch):
    from perceiver.model.text.tokenizer_names import TokenizerLoadError

    assert _load("deepmind/language-perceiver").source == UTF8_BYTES_TOKENIZER  # built, no files
    calls = []
    loaded = _load("krasserm/perceiver-ar-clm-base", calls, cached={"krasserm/perceiver-ar-clm-base"})
    assert loaded.source == "krasserm/perceiver-ar-clm-base" and loaded.kwargs["local_files_only"]
    assert calls == [("xlnet/xlnet-base-cased", True), ("krasserm/perceiver-ar-clm-base", True)]
    assert _load(tmp_path).source == str(tmp_path)  # a local directory
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        TokenizerUnavailableError, match=r"needs files from the Hub \('xlnet/xlnet-base-cased'\)"
    ):
        _load("krasserm/perceiver-ar-clm-base")
    with pytest.raises(TokenizerLoadError, match="'/no/such/dir': not a directory and not a Hub id") as error:
        _load("/no/such/dir")
    assert isinstance(error.value, OSError) and isinstance(error.value, ValueError)
    with pytest.raises(TypeError, match="name_or_path must be a Hub id or a local directory, got None"):
        _load(None)
