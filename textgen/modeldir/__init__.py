"""What a model is on disk: layout, schema and hashes, safe reading, atomic and staged writes, run folders."""
