"""Events and the event bus."""
