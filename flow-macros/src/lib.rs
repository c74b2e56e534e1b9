//! The proc macros of hookflow, thin shims over `hookflow-flow-compiler`:
//! - `flows!("flows")` compiles every `*.yaml` in the folder (relative to the crate root, or to
//!   `CARGO_MANIFEST_DIR_OVERRIDE` when set, which the trybuild tests use) into Rust state
//!   machines and a `pub static FLOWS: Registry`.
//! - `__snippet!` (hidden) compiles one script/condition/template into a function, for the
//!   language's runtime tests.

use proc_macro::TokenStream;

#[proc_macro]
pub fn flows(input: TokenStream) -> TokenStream {
    hookflow_flow_compiler::expand_flows_macro(input.into()).into()
}

#[doc(hidden)]
#[proc_macro]
pub fn __snippet(input: TokenStream) -> TokenStream {
    hookflow_flow_compiler::lang::expand_snippet_macro(input.into()).into()
}
