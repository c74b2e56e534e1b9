//! Value operations of the flow language (field access, indexing, operators, methods,
//! `format!`, templates), each a non-generic function that returns an `EvalError` instead of
//! panicking. Owned by the language work: see `flow-compiler/src/lang`.
