"""Training with Lightning: the language-model and classifier tasks and runs, the schedule, --resume, checkpoints."""
