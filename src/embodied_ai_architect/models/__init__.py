"""Model architectures shipped with the platform (built from config objects, never downloaded).

Modules here import torch / transformers at the top, so import them lazily (inside functions);
this package's ``__init__`` stays lean.
"""
