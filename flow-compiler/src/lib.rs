//! hookflow's flow compiler, a plain library so that everything is testable without rustc:
//! YAML with positions ([`yaml`]) → checked flow model ([`model`], [`check`]) → Rust tokens
//! ([`codegen`]), with rustc-style diagnostics ([`diag`]). The `flows!` proc macro is a thin
//! shim over [`expand_flows_macro`].

pub mod check;
pub mod codegen;
pub mod diag;
pub mod lang;
pub mod model;
pub mod yaml;

use diag::{Diagnostic, Sources};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use std::path::{Path, PathBuf};

/// The result of compiling a set of flow files.
#[derive(Debug)]
pub struct Output {
    /// The files read (display path relative to the crate, text).
    pub sources: Sources,
    /// All mistakes, sorted by file, line, column. Empty means `tokens` is the program.
    pub diagnostics: Vec<Diagnostic>,
    /// The generated flows and `FLOWS` (only meaningful without diagnostics).
    pub tokens: TokenStream,
}

impl Output {
    /// All diagnostics rendered like rustc (no colours).
    pub fn render(&self) -> String {
        diag::render(&self.diagnostics, &self.sources)
    }
}

/// Compiles flow files given as (display path, text), in this order.
pub fn compile_sources(files: Vec<(String, String)>) -> Output {
    let mut sources = Sources::default();
    let mut diags = Vec::new();
    let mut flows = Vec::new();
    for (path, text) in files {
        let id = sources.add(path, text);
        if let Some(root) = yaml::parse(id, sources.text(id), &mut diags) {
            if let Some(f) = model::read_flow(id, &root, &mut diags) {
                flows.push(f);
            }
        }
    }
    check::check(&flows, &sources, &mut diags);
    let refs: Vec<&model::Flow> = flows.iter().collect();
    let tokens = codegen::generate(&refs, &sources, &mut diags);
    diags.sort_by(|a, b| (a.span, a.code, &a.message).cmp(&(b.span, b.code, &b.message)));
    diags.dedup();
    Output {
        sources,
        diagnostics: diags,
        tokens,
    }
}

/// An I/O problem reading the flows folder (not a mistake in a flow).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read flows folder `{path}`: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read flow file `{path}`: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

/// The `*.yaml` / `*.yml` files of `dir`, sorted by name.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ReadError::Dir {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Compiles every YAML file of `root/rel`; display paths are `rel/<file>`.
pub fn compile_dir(root: &Path, rel: &str) -> Result<(Output, Vec<PathBuf>), ReadError> {
    let files = yaml_files(&root.join(rel))?;
    let mut inputs = Vec::with_capacity(files.len());
    for p in &files {
        let text = std::fs::read_to_string(p).map_err(|source| ReadError::File {
            path: p.display().to_string(),
            source,
        })?;
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        inputs.push((format!("{}/{}", rel.trim_end_matches('/'), name), text));
    }
    Ok((compile_sources(inputs), files))
}

/// The `flows!("dir")` macro: compiles `dir` (relative to `CARGO_MANIFEST_DIR_OVERRIDE` if
/// set, else `CARGO_MANIFEST_DIR`). On mistakes it emits one `compile_error!` per diagnostic,
/// whose message is the rendered diagnostic starting with `[HF0201] unknown node ...` (rustc
/// prints it after its own `error: `), plus an empty `FLOWS` so nothing else fails.
pub fn expand_flows_macro(input: TokenStream) -> TokenStream {
    let lit: Option<String> = syn_like_str(input.clone());
    let Some(rel) = lit else {
        return quote::quote_spanned! {first_span(&input)=>
            ::core::compile_error!("expected a folder name: `flows!(\"flows\")`");
        };
    };
    let root = std::env::var("CARGO_MANIFEST_DIR_OVERRIDE")
        .or_else(|_| std::env::var("CARGO_MANIFEST_DIR"))
        .map(PathBuf::from)
        .unwrap_or_default();
    let (out, files) = match compile_dir(&root, &rel) {
        Ok(x) => x,
        Err(e) => {
            let msg = format!("[HF0100] {e}");
            let sk = codegen::skeleton();
            return quote!(::core::compile_error!(#msg); #sk);
        }
    };
    let includes = files.iter().map(|p| {
        let p = p.display().to_string();
        quote!(
            const _: &[u8] = ::core::include_bytes!(#p);
        )
    });
    let body = if out.diagnostics.is_empty() {
        out.tokens
    } else {
        let errors = out.diagnostics.iter().map(|d| {
            let text = diag::render_one(d, &out.sources);
            // rustc prints `error: ` itself; turn `error[HF0201]: msg` into `[HF0201] msg`.
            let text = text
                .strip_prefix("error")
                .map(|t| t.replacen("]: ", "] ", 1))
                .unwrap_or(text);
            let text = text.trim_end().to_owned();
            quote!(::core::compile_error!(#text);)
        });
        let sk = codegen::skeleton();
        quote!(#(#errors)* #sk)
    };
    quote!(#(#includes)* #body)
}

fn first_span(input: &TokenStream) -> Span {
    input
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

/// The string of a single string-literal token.
fn syn_like_str(input: TokenStream) -> Option<String> {
    let toks: Vec<_> = input.into_iter().collect();
    let [proc_macro2::TokenTree::Literal(l)] = toks.as_slice() else {
        return None;
    };
    let s = l.to_string();
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then(|| inner.to_owned())
}
