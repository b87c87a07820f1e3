"""The LiteLLM edge: everything that knows the proxy (install, handlers, callback, call context,
router lookups, error translation). Nothing below imports it."""
