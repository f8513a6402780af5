"""`make mutation`: mutation testing of a baked service_a against its own suite."""
