"""Builders: plain functions returning functional keras.Models (imported only when a model is built)."""
