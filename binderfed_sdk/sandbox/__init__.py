"""A local Binder federation on 127.0.0.1, made of real parts, for demos and tests."""
