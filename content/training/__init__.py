"""LoRA training for a persona's face: the dataset (this package's `dataset`), then the
training loop. Pure: files in, files out; no database."""
