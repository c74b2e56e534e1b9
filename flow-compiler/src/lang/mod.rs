//! The expression and script language of flows: lexer, Pratt parser, static type checker, and
//! code generation to Rust tokens that call `::hookflow_runtime::__gen`.
//!
//! Interface used by the flow compiler (see `crate::codegen`): every compiled snippet is the
//! *body* of a function
//! `fn s<'a>(__ctx: &'a ::hookflow_runtime::__gen::Ctx) -> Result<V<'a>, EvalError>` (scripts,
//! templates) or `fn s<'a>(__ctx: &'a Ctx) -> Result<bool, EvalError>` (branch conditions). The
//! body refers to nothing but `__ctx` and `::hookflow_runtime::__gen`; values read from the
//! delivery or from node outputs are borrowed, computed values are owned.
//!
//! The language reference (names, types, operators, methods, error codes) is
//! `docs/flows.md` (language section).

mod ast;
mod check;
mod lexer;
mod parser;
mod snippet;
mod types;

#[cfg(test)]
mod tests;

pub use check::{
    HF0301, HF0302, HF0303, HF0304, HF0305, HF0306, HF0307, HF0308, HF0309, HF0310, HF0311, HF0312,
    HF0313, HF0314, HF0315, HF0316,
};
pub use types::{Kinds, Record, Type};

use crate::diag::{Diagnostic, Origin};
use check::{Checker, Typed};
use lexer::{lex, Sp};
use parser::Parser;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// What a snippet may refer to besides `event` and `headers`.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Nodes whose output may be read as `nodes.<id>`, with their index in the flow.
    pub nodes: Vec<(String, u16)>,
    /// `error` (`error.kind`, `error.message`, `error.node`) is in scope (targets of `on_error`).
    pub error: bool,
    /// What the snippets checked in this scope read of `event.payload` (shared by clones).
    pub payload: std::rc::Rc<std::cell::RefCell<PayloadReads>>,
}

/// The parts of `event.payload` a flow reads: the runtime parses only those top-level fields
/// of a JSON body (skipping the rest without building it) unless the flow uses the payload as a
/// whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayloadReads {
    /// `event.payload` used other than as `event.payload.<field>` (the whole value, indexed,
    /// a method on it, `event` as a value).
    pub whole: bool,
    /// The `<field>`s of `event.payload.<field>`, sorted, without repeats.
    pub fields: std::collections::BTreeSet<String>,
}

/// A checked snippet: its static type and the Rust function body computing it.
///
/// `code` is a sequence of statements ending in an expression of type
/// `Result<V<'a>, EvalError>` (scripts, templates) or `Result<bool, EvalError>` (conditions); it
/// reads only `__ctx: &'a ::hookflow_runtime::__gen::Ctx` and may use `?`. `ty` is the value's
/// static type (for a template: the hole's type if the string is exactly one `{{expr}}`, else
/// `string`).
#[derive(Debug, Clone)]
pub struct Compiled {
    pub ty: Type,
    pub code: TokenStream,
}

/// `Ok(value)`; a value that is one call ending in `?` is returned as is (no `Ok(f()?)`, which
/// clippy flags in the user's crate).
fn ok(value: TokenStream) -> TokenStream {
    use proc_macro2::TokenTree;
    let toks: Vec<TokenTree> = value.clone().into_iter().collect();
    let simple_call = matches!(toks.last(), Some(TokenTree::Punct(p)) if p.as_char() == '?')
        && toks[..toks.len() - 1].iter().all(|t| match t {
            TokenTree::Punct(p) => matches!(p.as_char(), ':' | '.'),
            _ => true,
        });
    if simple_call {
        toks[..toks.len() - 1].iter().cloned().collect()
    } else {
        quote!(::core::result::Result::Ok(#value))
    }
}

/// Lexes and parses `text[start..end]` as one expression, reporting HF0301/HF0302.
fn parse_expr(
    text: &str,
    start: usize,
    end: usize,
    origin: &Origin,
    diags: &mut Vec<Diagnostic>,
) -> Option<ast::Expr> {
    let toks = match lex(text, start, end) {
        Ok(t) => t,
        Err(e) => {
            diags.push(
                Diagnostic::new(HF0301, origin.span(text, e.sp.start, e.sp.end), e.message)
                    .label(e.label),
            );
            return None;
        }
    };
    match Parser::new(toks).single_expr() {
        Ok(e) => Some(e),
        Err(e) => {
            diags.push(
                Diagnostic::new(HF0302, origin.span(text, e.sp.start, e.sp.end), e.message)
                    .label(e.label),
            );
            None
        }
    }
}

/// Compiles a `script` node's text: `let` statements, then the output expression.
pub fn compile_script(
    text: &str,
    origin: &Origin,
    scope: &Scope,
    diags: &mut Vec<Diagnostic>,
) -> Option<Compiled> {
    let toks = match lex(text, 0, text.len()) {
        Ok(t) => t,
        Err(e) => {
            diags.push(
                Diagnostic::new(HF0301, origin.span(text, e.sp.start, e.sp.end), e.message)
                    .label(e.label),
            );
            return None;
        }
    };
    let block = match Parser::new(toks).script() {
        Ok(b) => b,
        Err(e) => {
            diags.push(
                Diagnostic::new(HF0302, origin.span(text, e.sp.start, e.sp.end), e.message)
                    .label(e.label),
            );
            return None;
        }
    };
    let mut c = Checker::new(text, origin, scope, diags);
    let (stmts, tail) = c.block(&block);
    let Some(tail) = tail else {
        let end = text.trim_end().len();
        let at = Sp::new(end.saturating_sub(1), end.max(1));
        let d = c.error(
            HF0315,
            at,
            "script has no output".to_owned(),
            "expected an expression after the last `;`".to_owned(),
        );
        *d = d.clone().note(
            "a script's output is its last expression, without `;` (e.g. `let data = event.payload; data`)",
        );
        return None;
    };
    if c.errors > 0 {
        return None;
    }
    let value = c.cow_final(&tail.repr);
    Some(Compiled {
        ty: tail.ty,
        code: {
            let value = ok(value);
            quote!(#stmts #value)
        },
    })
}

/// Compiles a branch condition; it must be boolean (or dynamic JSON, checked at run time).
pub fn compile_condition(
    text: &str,
    origin: &Origin,
    scope: &Scope,
    diags: &mut Vec<Diagnostic>,
) -> Option<Compiled> {
    let e = parse_expr(text, 0, text.len(), origin, diags)?;
    let mut c = Checker::new(text, origin, scope, diags);
    let t = c.expr(&e);
    let is_bool = c.check_condition(&t, e.sp, "a branch condition");
    if !is_bool || c.errors > 0 {
        return None;
    }
    let b = c.boolean(&t.repr);
    Some(Compiled {
        ty: Type::BOOL,
        code: ok(b),
    })
}

enum Part {
    Text(String),
    Hole(Typed),
}

/// Finds the `}}` closing a hole whose expression starts at `from`: skips quoted strings and
/// balanced `{ }` (object literals), so `{{ {a: {b: 1}} }}` works.
fn find_close(text: &str, from: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = from;
    let mut depth = 0usize;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'{' => depth += 1,
            b'}' if depth == 0 && b.get(i + 1) == Some(&b'}') => return Some(i),
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A string without `{{` is a constant template: the flow compiler may emit it as static JSON.
pub fn template_is_constant(text: &str) -> bool {
    !text.contains("{{")
}

/// `true` when the template is exactly one `{{expr}}` (nothing around it), so that its value is
/// the expression's value of any type rather than text.
pub fn template_is_single_hole(text: &str) -> bool {
    text.starts_with("{{")
        && find_close(text, 2)
            .is_some_and(|close| close + 2 == text.len() && !text[2..close].trim().is_empty())
}

/// Compiles a template string: exactly one `{{expr}}` yields the value itself, anything else
/// is text with each `{{expr}}` interpolated. A string without `{{` is a constant string.
pub fn compile_template(
    text: &str,
    origin: &Origin,
    scope: &Scope,
    diags: &mut Vec<Diagnostic>,
) -> Option<Compiled> {
    let rt = quote!(::hookflow_runtime::__gen);
    // Split into text and holes (by byte range of the hole's expression).
    let mut raw: Vec<Result<String, (usize, usize)>> = Vec::new();
    let mut i = 0;
    let mut failed = false;
    while let Some(k) = text[i..].find("{{") {
        let open = i + k;
        if open > i {
            raw.push(Ok(text[i..open].to_owned()));
        }
        let Some(close) = find_close(text, open + 2) else {
            diags.push(
                Diagnostic::new(
                    HF0313,
                    origin.span(text, open, open + 2),
                    "unclosed `{{` in template",
                )
                .label("this `{{` has no matching `}}`")
                .help("write `{{expression}}`, e.g. `{{event.tenant}}`"),
            );
            return None;
        };
        if text[open + 2..close].trim().is_empty() {
            diags.push(
                Diagnostic::new(
                    HF0313,
                    origin.span(text, open, close + 2),
                    "empty `{{}}` in template",
                )
                .label("expected an expression between `{{` and `}}`"),
            );
            failed = true;
        } else {
            raw.push(Err((open + 2, close)));
        }
        i = close + 2;
    }
    if i < text.len() {
        raw.push(Ok(text[i..].to_owned()));
    }
    if raw.iter().all(Result::is_ok) && !failed {
        return Some(Compiled {
            ty: Type::STRING,
            code: quote!(::core::result::Result::Ok(#rt::Cow::Owned(#rt::str_lit(#text)))),
        });
    }
    let exprs: Vec<Option<ast::Expr>> = raw
        .iter()
        .map(|p| match p {
            Ok(_) => None,
            Err((s, e)) => parse_expr(text, *s, *e, origin, diags),
        })
        .collect();
    if exprs
        .iter()
        .zip(&raw)
        .any(|(e, r)| r.is_err() && e.is_none())
        || failed
    {
        return None;
    }
    let mut c = Checker::new(text, origin, scope, diags);
    let mut parts = Vec::new();
    for (r, e) in raw.into_iter().zip(exprs) {
        match (r, e) {
            (Ok(s), _) => parts.push(Part::Text(s)),
            (Err(_), Some(e)) => parts.push(Part::Hole(c.expr(&e))),
            (Err(_), None) => {}
        }
    }
    if c.errors > 0 {
        return None;
    }
    if let [Part::Hole(t)] = parts.as_slice() {
        let v = c.cow_final(&t.repr);
        return Some(Compiled {
            ty: t.ty,
            code: ok(v),
        });
    }
    let buf = format_ident!("__s");
    let mut body = TokenStream::new();
    let mut cap = 0usize;
    for p in &parts {
        match p {
            Part::Text(s) => {
                cap += s.len();
                body.extend(quote!(#buf.push_str(#s);));
            }
            Part::Hole(t) => {
                cap += 8;
                body.extend(c.push_text(&buf, &t.repr));
            }
        }
    }
    Some(Compiled {
        ty: Type::STRING,
        code: quote!(
            let mut #buf = ::std::string::String::with_capacity(#cap);
            #body
            ::core::result::Result::Ok(#rt::Cow::Owned(#rt::Value::String(#buf)))
        ),
    })
}

/// The hidden `__snippet!` macro used by the runtime's language tests:
/// `__snippet!(fn name: script "text" nodes(a = 0, b = 1) error);` (`script`, `condition` or
/// `template`; `nodes(..)` and `error` optional) expands to the snippet function, or to
/// `compile_error!`s with the diagnostics.
pub fn expand_snippet_macro(input: TokenStream) -> TokenStream {
    snippet::expand(input)
}
