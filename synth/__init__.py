"""The Z3-backed synthesizer (issue 4)."""
