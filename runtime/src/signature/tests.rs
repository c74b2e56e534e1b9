//! Unit tests: the published vectors of each sender, and the negatives.
