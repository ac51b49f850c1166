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
