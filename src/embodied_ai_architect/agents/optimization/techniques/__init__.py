"""Built-in techniques; each module registers itself with @register_technique."""
