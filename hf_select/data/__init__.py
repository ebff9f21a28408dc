"""Data: text views of TRL dataset formats, the embedded pool, and filters."""
