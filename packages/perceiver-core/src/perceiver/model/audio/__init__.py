"""Audio task models: Perceiver AR over symbolic (MIDI event) tokens."""
