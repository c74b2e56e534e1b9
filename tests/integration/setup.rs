//! Integration tests: setup.
