"""Export of a trained student (Paddle inference, ONNX, int8) and the predictors that run it."""
