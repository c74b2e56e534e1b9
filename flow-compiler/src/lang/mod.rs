//! The expression and script language of flows: lexer, Pratt parser, static type checker, and
//! code generation to Rust tokens that call `::hookflow_runtime::__gen`.
//!
//! Interface used by the flow compiler (see `crate::codegen`):
//! every compiled snippet is the *body* of a function
//! `fn(__ctx: &'a rt::Ctx) -> Result<rt::V<'a>, rt::EvalError>` (scripts, templates) or
//! `fn(__ctx: &'a rt::Ctx) -> Result<bool, rt::EvalError>` (branch conditions).

use crate::diag::{Diagnostic, Origin};
use proc_macro2::TokenStream;

/// What a snippet may refer to besides `event` and `headers`.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Nodes whose output may be read as `nodes.<id>`, with their index in the flow.
    pub nodes: Vec<(String, u16)>,
    /// `error` (`error.kind`, `error.message`) is in scope (targets of `on_error`).
    pub error: bool,
}

/// A checked snippet: its static type and the Rust function body computing it.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub ty: Type,
    pub code: TokenStream,
}

/// Static type of a value (placeholder until the checker lands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Dyn,
}

/// Compiles a `script` node's text: `let` statements, then the output expression.
pub fn compile_script(
    _text: &str,
    _origin: &Origin,
    _scope: &Scope,
    _diags: &mut Vec<Diagnostic>,
) -> Option<Compiled> {
    None
}

/// Compiles a branch condition; it must be boolean (or dynamic JSON, checked at run time).
pub fn compile_condition(
    _text: &str,
    _origin: &Origin,
    _scope: &Scope,
    _diags: &mut Vec<Diagnostic>,
) -> Option<Compiled> {
    None
}

/// Compiles a template string: exactly one `{{expr}}` yields the value itself, anything else
/// is text with each `{{expr}}` interpolated. A string without `{{` is a constant string.
pub fn compile_template(
    _text: &str,
    _origin: &Origin,
    _scope: &Scope,
    _diags: &mut Vec<Diagnostic>,
) -> Option<Compiled> {
    None
}

/// The hidden `__snippet!` macro (placeholder until the language lands).
pub fn expand_snippet_macro(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
