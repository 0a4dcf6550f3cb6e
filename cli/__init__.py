"""The `gridmap` command line (Typer + rich)."""
