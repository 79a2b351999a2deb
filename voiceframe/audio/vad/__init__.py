"""Voice activity detection: Silero model files, the shared ONNX session, and the VAD state machine."""
