//! Integration tests: ui.
