"""Training pipeline for the learned codecs (``python -m pillow_nnc.train``)."""
