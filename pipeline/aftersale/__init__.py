"""After-sale work: customer events, the day's tasks, callbacks and the call cap."""
