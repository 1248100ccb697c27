"""The `lensforge` command line: one module per noun."""
