"""The `branes` command line (Typer). Commands parse input into typed requests and render results."""
