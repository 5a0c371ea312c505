"""qmac golden models (NumPy only)."""
