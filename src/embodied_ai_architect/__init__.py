"""Embodied AI Architect: make trained robotics / embodied-AI models fit edge devices.

Importing this package is cheap on purpose: torch, ONNX Runtime and MuJoCo are imported
lazily by the modules that need them (see ``tests/test_lean_import.py``).
"""

__version__ = "0.1.0"
