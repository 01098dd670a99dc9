"""What a model and its stories are like: next words, gates, evaluation, the cast, detectors, attribution, diagnosis, plots."""
