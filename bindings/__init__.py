"""Bindings (wasmops.bindings): the faces users touch. Only this layer and registry know frontends."""
