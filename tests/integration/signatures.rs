//! Integration tests: signatures.
