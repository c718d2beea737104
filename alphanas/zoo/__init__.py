"""Seed architectures written in the alphanas language."""
