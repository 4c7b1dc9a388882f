"""The real-model corpus (corpus/manifest.yaml), fetched by `make corpus`, never at test time.

The `branes` fixture comes from tests/conftest.py."""
