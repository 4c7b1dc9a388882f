"""Deployment agent: build a validated artifact for a target runtime (ONNX Runtime, Jetson /
TensorRT, OpenVINO, TFLite).

Public API (import from the submodules; this package stays import-light):

* :mod:`embodied_ai_architect.schemas.deployment` — ``DeployRequest``, ``DeploymentResult``,
  ``TargetStatus``, ...
* :mod:`.agent` — ``DeploymentAgent``, ``deploy_model(request, ctx)``
* :mod:`.targets` — ``DeploymentTarget``, ``register_target``, ``get_target``, ``list_targets``
"""
