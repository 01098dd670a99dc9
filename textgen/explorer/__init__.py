"""The explorer: `textgen serve`'s web page and the JSON API behind it (FastAPI, served by uvicorn)."""
