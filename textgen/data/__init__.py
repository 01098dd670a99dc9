"""Stories in, token arrays out: corpus readers, the storybook generator, token arrays and batches."""
