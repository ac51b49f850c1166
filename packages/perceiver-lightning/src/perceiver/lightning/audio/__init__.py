"""Lightning wrapper of the symbolic audio (MIDI) model."""

from perceiver.lightning.audio.symbolic import LitSymbolicAudioModel

__all__ = ["LitSymbolicAudioModel"]
