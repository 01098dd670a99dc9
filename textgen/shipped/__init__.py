"""The models that travel with textgen, by short name (textgen.modeldir.schema.SHIPPED_MODELS)."""
