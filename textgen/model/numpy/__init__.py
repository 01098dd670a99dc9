"""The cells' equations in numpy, for the paths that run without torch's per-call overhead."""
