"""The API's reads (through the read-only role), one module per resource. Filters are bound
parameters, never text."""
