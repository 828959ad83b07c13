"""Torch models, training, ONNX export with parity check, and the onnxruntime runtime."""
