"""graphnn: a PyTorch-compatible nn library that compiles models to OpenCL."""
