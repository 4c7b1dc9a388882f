import pytest

from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.registry import Registry


def test_registry_refuses_duplicates_and_lists_available() -> None:
    registry: Registry[int] = Registry("target", decorator="@register_target")
    registry.add("onnxruntime", 1)
    registry.add("openvino", 2)
    with pytest.raises(ConfigError, match="already registered"):
        registry.add("onnxruntime", 3)
    with pytest.raises(ConfigError) as info:
        registry.get("jetsn")
    assert "available: onnxruntime, openvino" in info.value.message
    assert "@register_target" in info.value.hint
    assert registry.get("openvino") == 2
