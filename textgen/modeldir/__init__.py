"""What a model is on disk, from the bottom up: the names of its files and tasks (`names`), safe
reading (`safe_read`), the shipped models (`shipped`), staged writes and locks (`swap`), atomic
writes (`atomic`), textgen.json (`layout`), its schema and the checked reading of the files
without torch (`schema`), one `load()` for both tasks and saving (`store`), run folders (`run_folder`)."""
