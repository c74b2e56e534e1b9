//! Checker tests: every HF03xx code, spans, types.
