"""The event environment's lifecycle: schedules, the create/destroy handler, and its cost."""
