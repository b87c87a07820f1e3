"""Pure code: ids, object layout, records, input and output lines, import rules, states, pricing,
settings, the error tree. No I/O."""
