"""Policy families behind one ONNX contract, training, ONNX export with parity check, and the
onnxruntime runtime."""
