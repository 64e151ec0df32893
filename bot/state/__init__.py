"""State that outlives the process: the Redis store and its key layout."""
