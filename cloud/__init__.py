"""The cloud side: datastore, memory worker, LLM backends, API."""
