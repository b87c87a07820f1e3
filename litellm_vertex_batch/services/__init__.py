"""The rules: files, batches, finalization, charges, pass-through jobs. Typed values in, no kwargs."""
