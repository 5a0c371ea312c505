"""qmac flow: configuration, generation, simulation and regression (the only YAML reader)."""
