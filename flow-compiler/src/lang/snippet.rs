//! The hidden `__snippet!` test macro: compiles one script, condition or template into a
//! function with exactly the signature the flow code generator uses, so the language's run-time
//! semantics are tested through rustc.

use super::{compile_condition, compile_script, compile_template, Scope};
use crate::diag::{Diagnostic, Origin};
use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use quote::quote;

enum Kind {
    Script,
    Condition,
    Template,
}

struct Input {
    name: Ident,
    kind: Kind,
    text: String,
    scope: Scope,
}

fn err(span: Span, msg: &str) -> TokenStream {
    quote::quote_spanned!(span=> ::core::compile_error!(#msg);)
}

fn parse(input: TokenStream) -> Result<Input, TokenStream> {
    let usage = "expected `fn name: script|condition|template \"text\" [nodes(a = 0, ..)] [error]`";
    let toks: Vec<TokenTree> = input.into_iter().collect();
    let mut it = toks.into_iter().peekable();
    let here = Span::call_site();
    match it.next() {
        Some(TokenTree::Ident(i)) if i == "fn" => {}
        _ => return Err(err(here, usage)),
    }
    let Some(TokenTree::Ident(name)) = it.next() else {
        return Err(err(here, usage));
    };
    match it.next() {
        Some(TokenTree::Punct(p)) if p.as_char() == ':' => {}
        _ => return Err(err(name.span(), usage)),
    }
    let kind = match it.next() {
        Some(TokenTree::Ident(i)) if i == "script" => Kind::Script,
        Some(TokenTree::Ident(i)) if i == "condition" => Kind::Condition,
        Some(TokenTree::Ident(i)) if i == "template" => Kind::Template,
        _ => return Err(err(name.span(), usage)),
    };
    let text = match it.next() {
        Some(TokenTree::Literal(l)) => match unquote(&l.to_string()) {
            Some(s) => s,
            None => return Err(err(l.span(), "expected a string literal")),
        },
        _ => return Err(err(name.span(), usage)),
    };
    let mut scope = Scope::default();
    while let Some(t) = it.next() {
        match t {
            TokenTree::Ident(i) if i == "error" => scope.error = true,
            TokenTree::Ident(i) if i == "nodes" => {
                let Some(TokenTree::Group(g)) = it.next() else {
                    return Err(err(i.span(), "expected `nodes(a = 0, ..)`"));
                };
                if g.delimiter() != Delimiter::Parenthesis {
                    return Err(err(g.span(), "expected `nodes(a = 0, ..)`"));
                }
                let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                for entry in inner.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ','))
                {
                    match entry {
                        [] => {}
                        [TokenTree::Ident(n), TokenTree::Punct(eq), TokenTree::Literal(ix)]
                            if eq.as_char() == '=' =>
                        {
                            let Ok(ix) = ix.to_string().parse::<u16>() else {
                                return Err(err(ix.span(), "expected a node index (u16)"));
                            };
                            scope.nodes.push((n.to_string(), ix));
                        }
                        _ => return Err(err(g.span(), "expected `nodes(a = 0, ..)`")),
                    }
                }
            }
            TokenTree::Punct(p) if p.as_char() == ';' => {}
            other => return Err(err(other.span(), usage)),
        }
    }
    Ok(Input {
        name,
        kind,
        text,
        scope,
    })
}

/// The value of a Rust string literal token (`"..."` with escapes, or `r#"..."#`).
fn unquote(lit: &str) -> Option<String> {
    if let Some(raw) = lit.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let body = raw.get(hashes + 1..raw.len().checked_sub(hashes + 1)?)?;
        return Some(body.to_owned());
    }
    let body = lit.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            '\n' => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
            }
            'u' => {
                if chars.next()? != '{' {
                    return None;
                }
                let hex: String = chars.by_ref().take_while(|c| *c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
            }
            'x' => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(char::from(u8::from_str_radix(&hex, 16).ok()?));
            }
            _ => return None,
        }
    }
    Some(out)
}

pub fn expand(input: TokenStream) -> TokenStream {
    let inp = match parse(input) {
        Ok(i) => i,
        Err(e) => return e,
    };
    let origin = Origin {
        file: 0,
        line: 1,
        col: 1,
        block: true,
    };
    let mut diags: Vec<Diagnostic> = Vec::new();
    let compiled = match inp.kind {
        Kind::Script => compile_script(&inp.text, &origin, &inp.scope, &mut diags),
        Kind::Condition => compile_condition(&inp.text, &origin, &inp.scope, &mut diags),
        Kind::Template => compile_template(&inp.text, &origin, &inp.scope, &mut diags),
    };
    let name = &inp.name;
    let rt = quote!(::hookflow_runtime::__gen);
    let ret = match inp.kind {
        Kind::Condition => quote!(bool),
        _ => quote!(#rt::V<'a>),
    };
    let body = match compiled {
        Some(c) if diags.is_empty() => c.code,
        _ => {
            let errs = diags.iter().map(|d| {
                let msg = format!(
                    "{}: {} ({}:{}: {})",
                    d.code, d.message, d.span.line, d.span.col, d.label
                );
                quote!(::core::compile_error!(#msg);)
            });
            quote!(#(#errs)* loop {})
        }
    };
    quote! {
        fn #name<'a>(__ctx: &'a #rt::Ctx) -> ::core::result::Result<#ret, #rt::EvalError> {
            #body
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unquote;

    #[test]
    fn unquotes_rust_literals() {
        assert_eq!(unquote(r#""a\"b\n""#).as_deref(), Some("a\"b\n"));
        assert_eq!(unquote(r##"r#"x "y""#"##).as_deref(), Some("x \"y\""));
        assert_eq!(unquote(r#"r"{{a}}""#).as_deref(), Some("{{a}}"));
        assert_eq!(unquote("'a'"), None);
    }
}
