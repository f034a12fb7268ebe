"""The API's response and request bodies (documented in the OpenAPI schema, with examples),
one module per resource."""
