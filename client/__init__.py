"""The writer's side: local suggestion engine, memory, sync, coordinator, TUI."""
