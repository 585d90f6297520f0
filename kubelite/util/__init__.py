"""Plumbing every layer uses, after apimachinery's ``pkg/util``: supervised tasks, jitter,
structured logs, process start-up, ``--listen`` binding, human-readable times, package data.
Imports nothing of kubelite's (the bottom layer; docs/architecture.md)."""
