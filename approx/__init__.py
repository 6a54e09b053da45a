"""approx: the PyTorch half of the lab (activations, models, fitting, rates). It knows nothing of SymPy."""
