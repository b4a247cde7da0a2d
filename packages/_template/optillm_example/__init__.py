"""Template optillm distribution: one approach registered through an entry point."""
