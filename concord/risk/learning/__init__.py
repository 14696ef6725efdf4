"""Offline learning: datasets, features, history profiles, training, the model registry, drift, simulation."""
