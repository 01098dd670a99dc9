"""Experiments that test the claims the toolkit teaches (memory span of RNN, GRU and LSTM)."""
