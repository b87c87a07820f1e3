"""Google I/O: the object store (Cloud Storage and an in-memory fake), the Vertex client, credentials,
retries."""
