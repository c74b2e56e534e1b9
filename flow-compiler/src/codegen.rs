//! Code generation: checked flows to a deterministic `TokenStream`. Each flow becomes a module
//! with `pub static FLOW: FlowDef`, one function per compiled snippet, a state enum (one variant
//! per node) and `run`, a loop over the states. Generated code is data and control flow only:
//! every operation is a call into the non-generic helpers of `::hookflow_runtime::__gen`.

use crate::check::edges;
use crate::diag::{Diagnostic, Sources};
use crate::lang::{self, Scope};
use crate::model::{Exec, Flow, FlowNode, HeaderSrc, HttpRequest, Json, Kind, Text};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

/// Generates every flow (sorted by name) and `pub static FLOWS: Registry`. Language
/// diagnostics are pushed to `diags`; the tokens are only meaningful when there are none.
pub fn generate(flows: &[&Flow], sources: &Sources, diags: &mut Vec<Diagnostic>) -> TokenStream {
    let mut sorted: Vec<&Flow> = flows.to_vec();
    sorted.sort_by(|a, b| a.name.text.cmp(&b.name.text));
    let mut out = TokenStream::new();
    let mut refs = Vec::new();
    for f in &sorted {
        let m = mangle("flow_", &f.name.text);
        out.extend(flow(f, sources, diags));
        refs.push(quote!(&#m::FLOW));
    }
    out.extend(quote! {
        /// The flows compiled from the YAML files, sorted by name.
        pub static FLOWS: ::hookflow_runtime::__gen::Registry =
            ::hookflow_runtime::__gen::Registry { flows: &[#(#refs),*] };
    });
    out
}

/// The registry with no flows: emitted next to `compile_error!`s so that the user sees only the
/// flow errors.
pub fn skeleton() -> TokenStream {
    quote! {
        pub static FLOWS: ::hookflow_runtime::__gen::Registry =
            ::hookflow_runtime::__gen::Registry { flows: &[] };
    }
}

/// `prefix` + `name` as an identifier. Names are checked to be identifiers (HF0208); anything
/// else is replaced by `_` so that codegen never panics while diagnostics are pending. The
/// prefix also makes Rust keywords (`match`, `type`) safe.
fn mangle(prefix: &str, name: &str) -> proc_macro2::Ident {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format_ident!("{}{}", prefix, s)
}

fn ix(i: usize) -> Literal {
    Literal::u16_unsuffixed(u16::try_from(i).unwrap_or(u16::MAX))
}

/// `Some(ix)` / `None` as an `Option<NodeIx>` literal.
fn opt_ix(i: Option<usize>) -> TokenStream {
    match i {
        Some(j) => {
            let j = ix(j);
            quote!(::core::option::Option::Some(#j))
        }
        None => quote!(::core::option::Option::None),
    }
}

struct Gen<'f> {
    flow: &'f Flow,
    scope: Scope,
    fns: TokenStream,
    counter: usize,
}

impl Gen<'_> {
    fn fresh(&mut self, prefix: &str) -> proc_macro2::Ident {
        self.counter += 1;
        format_ident!("{}_{}", prefix, self.counter)
    }

    /// A value-returning snippet function; returns its name.
    fn snippet(&mut self, code: Option<TokenStream>, prefix: &str) -> proc_macro2::Ident {
        let name = self.fresh(prefix);
        let body = code
            .unwrap_or_else(|| quote!(::core::result::Result::Ok(rt::Cow::Owned(rt::Value::Null))));
        self.fns.extend(quote! {
            fn #name<'a>(__ctx: &'a rt::Ctx) -> ::core::result::Result<rt::V<'a>, rt::EvalError> {
                #body
            }
        });
        name
    }

    fn template(&mut self, t: &Text, diags: &mut Vec<Diagnostic>) -> TokenStream {
        if lang::template_is_constant(&t.text) {
            let s = &t.text;
            return quote!(rt::Cow::Owned(rt::str_lit(#s)));
        }
        let code = lang::compile_template(&t.text, &t.origin, &self.scope, diags).map(|c| c.code);
        let f = self.snippet(code, "t");
        quote!(#f(__ctx)?)
    }

    /// An expression of type `V<'_>` building a JSON value (inside a function with `__ctx`).
    fn json(&mut self, j: &Json, diags: &mut Vec<Diagnostic>) -> TokenStream {
        match j {
            Json::Null => quote!(rt::Cow::Owned(rt::Value::Null)),
            Json::Bool(b) => quote!(rt::Cow::Owned(rt::Value::Bool(#b))),
            Json::Int(i) => {
                let f = *i as f64;
                quote!(rt::Cow::Owned(rt::num_lit(#f)))
            }
            Json::Float(x) => quote!(rt::Cow::Owned(rt::num_lit(#x))),
            Json::Str(t) => self.template(t, diags),
            Json::Arr(items) => {
                let n = items.len();
                let pushes: Vec<TokenStream> = items
                    .iter()
                    .map(|i| {
                        let v = self.json(i, diags);
                        quote!(rt::push(&mut __a, #v);)
                    })
                    .collect();
                quote!({ let mut __a = rt::array(#n); #(#pushes)* rt::Cow::Owned(__a) })
            }
            Json::Obj(entries) => {
                let inserts: Vec<TokenStream> = entries
                    .iter()
                    .map(|(k, v)| {
                        let v = self.json(v, diags);
                        quote!(rt::insert(&mut __o, #k, #v);)
                    })
                    .collect();
                quote!({ let mut __o = rt::object(); #(#inserts)* rt::Cow::Owned(__o) })
            }
        }
    }

    /// A `String` expression with a template's text (inside a function with `__ctx`).
    fn text(&mut self, t: &Text, diags: &mut Vec<Diagnostic>) -> TokenStream {
        if lang::template_is_constant(&t.text) {
            let s = &t.text;
            return quote!(::std::string::String::from(#s));
        }
        let v = self.template(t, diags);
        quote!(rt::into_text(#v))
    }

    fn opt_text(&mut self, t: Option<&Text>, diags: &mut Vec<Diagnostic>) -> TokenStream {
        match t {
            Some(t) => {
                let v = self.text(t, diags);
                quote!(::core::option::Option::Some(#v))
            }
            None => quote!(::core::option::Option::None),
        }
    }

    /// An `rt::Action` expression for an `http_request` (inside a function with `__ctx`).
    fn http_call(&mut self, r: &HttpRequest, diags: &mut Vec<Diagnostic>) -> TokenStream {
        let method = &r.method;
        let url = self.text(&r.url, diags);
        let headers: Vec<TokenStream> = r
            .headers
            .iter()
            .map(|(name, v)| {
                let value = match v {
                    HeaderSrc::Template(t) => {
                        let t = self.text(t, diags);
                        quote!(rt::HeaderValue::Text(#t))
                    }
                    HeaderSrc::Secret(var) => quote!(rt::HeaderValue::Secret(#var)),
                };
                quote!((::std::string::String::from(#name), #value))
            })
            .collect();
        let body = match &r.body {
            None => quote!(::core::option::Option::None),
            Some(Json::Str(t)) if lang::template_is_single_hole(&t.text) => {
                let v = self.template(t, diags);
                quote!(::core::option::Option::Some(rt::HttpBody::Json(rt::Cow::<rt::Value>::into_owned(#v))))
            }
            Some(Json::Str(t)) => {
                let v = self.text(t, diags);
                quote!(::core::option::Option::Some(rt::HttpBody::Text(#v)))
            }
            Some(b) if json_is_constant(b) => {
                let mut s = String::new();
                json_text(b, &mut s);
                quote!(::core::option::Option::Some(rt::HttpBody::Json(rt::Body::Static(#s).to_value())))
            }
            Some(b) => {
                let v = self.json(b, diags);
                quote!(::core::option::Option::Some(rt::HttpBody::Json(rt::Cow::<rt::Value>::into_owned(#v))))
            }
        };
        let timeout = match r.timeout_ms {
            Some(ms) => {
                let ms = Literal::u64_unsuffixed(ms);
                quote!(#ms)
            }
            None => quote!(rt::DEFAULT_HTTP_TIMEOUT_MS),
        };
        let expect = r.expect_status.iter().map(|(a, b)| {
            let (a, b) = (Literal::u16_unsuffixed(*a), Literal::u16_unsuffixed(*b));
            quote!((#a, #b))
        });
        quote!(rt::Action::Http(rt::HttpCall {
            method: #method,
            url: #url,
            headers: ::std::vec![#(#headers),*],
            body: #body,
            timeout_ms: #timeout,
            expect_status: &[#(#expect),*],
        }))
    }

    /// An `rt::Action` expression for an `exec` (inside a function with `__ctx`).
    fn exec_call(&mut self, e: &Exec, diags: &mut Vec<Diagnostic>) -> TokenStream {
        let command = self.text(&e.command, diags);
        let args: Vec<TokenStream> = e.args.iter().map(|a| self.text(a, diags)).collect();
        let env: Vec<TokenStream> = e
            .env
            .iter()
            .map(|(name, v)| {
                let v = self.text(v, diags);
                quote!((::std::string::String::from(#name), #v))
            })
            .collect();
        let stdin = self.opt_text(e.stdin.as_ref(), diags);
        let working_dir = self.opt_text(e.working_dir.as_ref(), diags);
        let timeout = match e.timeout_ms {
            Some(ms) => {
                let ms = Literal::u64_unsuffixed(ms);
                quote!(#ms)
            }
            None => quote!(rt::DEFAULT_EXEC_TIMEOUT_MS),
        };
        let allow_failure = e.allow_failure;
        quote!(rt::Action::Exec(rt::ExecCall {
            command: #command,
            args: ::std::vec![#(#args),*],
            env: ::std::vec![#(#env),*],
            stdin: #stdin,
            working_dir: #working_dir,
            timeout_ms: #timeout,
            allow_failure: #allow_failure,
        }))
    }

    /// The state arm of an action node: builds the action (a function of its own) and yields it
    /// to the engine with where to go on success and on failure.
    fn action(
        &mut self,
        n: &FlowNode,
        k: Literal,
        call: TokenStream,
        attempt: &dyn Fn(TokenStream) -> TokenStream,
        pos: &dyn Fn(&str) -> usize,
    ) -> TokenStream {
        let af = self.fresh("a");
        self.fns.extend(quote! {
            fn #af(__ctx: &rt::Ctx) -> ::core::result::Result<rt::Action, rt::EvalError> {
                ::core::result::Result::Ok(#call)
            }
        });
        let next = opt_ix(n.next.as_ref().map(|x| pos(&x.text)));
        let on_error = opt_ix(n.on_error.as_ref().map(|x| pos(&x.text)));
        let action = attempt(quote!(rt::act(ctx, &FLOW, #k, r)));
        quote! {
            let r = #af(ctx);
            let action = #action;
            return ::core::result::Result::Ok(rt::Yield::Act { node: #k, action, next: #next, on_error: #on_error });
        }
    }

    /// An expression of type `rt::Body` writing the JSON of `j` as text: constant parts are
    /// serialised here, only the templates' values at run time (see `rt::JsonOut`).
    fn json_text(&mut self, j: &Json, diags: &mut Vec<Diagnostic>) -> TokenStream {
        let mut steps = Vec::new();
        let mut pending = String::new();
        let mut size = 0;
        self.json_text_parts(j, &mut pending, &mut steps, &mut size, diags);
        flush_raw(&mut pending, &mut steps, &mut size);
        quote!({
            let mut __j = rt::JsonOut::new(#size);
            #(#steps)*
            __j.finish()
        })
    }

    fn json_text_parts(
        &mut self,
        j: &Json,
        pending: &mut String,
        steps: &mut Vec<TokenStream>,
        size: &mut usize,
        diags: &mut Vec<Diagnostic>,
    ) {
        match j {
            Json::Str(t) if !lang::template_is_constant(&t.text) => {
                flush_raw(pending, steps, size);
                let v = self.template(t, diags);
                steps.push(quote!(__j.value(&*#v);));
                // A guess for the value's length; the buffer grows if it is longer.
                *size += 24;
            }
            Json::Arr(items) => {
                pending.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        pending.push(',');
                    }
                    self.json_text_parts(v, pending, steps, size, diags);
                }
                pending.push(']');
            }
            Json::Obj(entries) => {
                pending.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        pending.push(',');
                    }
                    json_string(k, pending);
                    pending.push(':');
                    self.json_text_parts(v, pending, steps, size, diags);
                }
                pending.push('}');
            }
            constant => json_text(constant, pending),
        }
    }

    fn next_state(&self, next: Option<&str>) -> TokenStream {
        match next.and_then(|n| self.flow.nodes.iter().position(|x| x.id.text == n)) {
            Some(j) => {
                let v = mangle("N_", &self.flow.nodes[j].id.text);
                quote!(State::#v)
            }
            None => quote!(return ::core::result::Result::Ok(rt::Yield::Finished)),
        }
    }
}

/// `true` when no string in the JSON is a template.
fn json_is_constant(j: &Json) -> bool {
    match j {
        Json::Str(t) => lang::template_is_constant(&t.text),
        Json::Arr(a) => a.iter().all(json_is_constant),
        Json::Obj(o) => o.iter().all(|(_, v)| json_is_constant(v)),
        _ => true,
    }
}

/// Emits the constant JSON text gathered so far as one `__j.raw("...")` call.
fn flush_raw(pending: &mut String, steps: &mut Vec<TokenStream>, size: &mut usize) {
    if !pending.is_empty() {
        *size += pending.len();
        let text = std::mem::take(pending);
        steps.push(quote!(__j.raw(#text);));
    }
}

/// Serialises constant JSON (no templates) at compile time.
fn json_text(j: &Json, out: &mut String) {
    match j {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(i) => out.push_str(&i.to_string()),
        Json::Float(x) if x.is_finite() => out.push_str(&x.to_string()),
        Json::Float(_) => out.push_str("null"),
        Json::Str(t) => json_string(&t.text, out),
        Json::Arr(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_text(v, out);
            }
            out.push(']');
        }
        Json::Obj(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                json_text(v, out);
            }
            out.push('}');
        }
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn flow(f: &Flow, sources: &Sources, diags: &mut Vec<Diagnostic>) -> TokenStream {
    let scope = Scope {
        nodes: f
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.text.clone(), u16::try_from(i).unwrap_or(u16::MAX)))
            .collect(),
        error: false,
        payload: Default::default(),
    };
    // `error` is in scope in the nodes that only a failure leads to: those not reachable from
    // an entry (a trigger target, or the first node, where `async` starts a flow) without taking
    // an `on_error` edge. `error` is never cleared, so it is set on every path to them. While an
    // `on_error` names an unknown node (HF0201), the intended target is unknown: `error` is
    // allowed everywhere so that the one mistake is reported once.
    let is_id = |t: &str| f.nodes.iter().any(|n| n.id.text == t);
    let unknown_handler = f
        .nodes
        .iter()
        .any(|n| n.on_error.as_ref().is_some_and(|h| !is_id(&h.text)));
    let normal = reachable_without_on_error(f);
    let handlers: Vec<bool> = normal.iter().map(|r| unknown_handler || !r).collect();
    let mut secrets: Vec<&str> = f
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            Kind::HttpRequest(r) => Some(r.headers.iter()),
            _ => None,
        })
        .flatten()
        .filter_map(|(_, v)| match v {
            HeaderSrc::Secret(name) => Some(name.as_str()),
            HeaderSrc::Template(_) => None,
        })
        .collect();
    secrets.sort_unstable();
    secrets.dedup();
    let mut g = Gen {
        flow: f,
        scope,
        fns: TokenStream::new(),
        counter: 0,
    };
    let name = &f.name.text;
    let version = &f.version;
    let file = sources.path(f.file);
    let pos = |id: &str| f.nodes.iter().position(|n| n.id.text == id).unwrap_or(0);
    let triggers: Vec<TokenStream> = f
        .triggers
        .iter()
        .map(|t| {
            let et = &t.event_type.text;
            let to = ix(pos(&t.target.text));
            quote!(rt::TriggerDef { event_type: #et, target: #to })
        })
        .collect();
    let mut node_defs = Vec::new();
    let mut variants = Vec::new();
    let mut starts = Vec::new();
    let mut arms = Vec::new();
    for (i, n) in f.nodes.iter().enumerate() {
        let id = &n.id.text;
        let kind = &n.kind_name;
        let line = n.line;
        let edge_defs: Vec<TokenStream> = edges(n)
            .iter()
            .map(|(label, to)| {
                let to = ix(pos(&to.text));
                quote!(rt::EdgeDef { label: #label, to: #to })
            })
            .collect();
        node_defs.push(
            quote!(rt::NodeDef { id: #id, kind: #kind, line: #line, edges: &[#(#edge_defs),*] }),
        );
        let v = mangle("N_", id);
        variants.push(v.clone());
        let k = ix(i);
        starts.push(quote!(#k => State::#v));
        g.scope.error = handlers[i];
        let next = g.next_state(n.next.as_ref().map(|x| x.text.as_str()));
        // A failing step: `?` returns the flow error; with `on_error` the error is put in scope
        // and the node's labelled block ends in the handler's state.
        let handler = n
            .on_error
            .as_ref()
            .map(|h| g.next_state(Some(h.text.as_str())));
        let attempt = |call: TokenStream| match &handler {
            None => quote!(#call?),
            Some(h) => quote!(match #call {
                ::core::result::Result::Ok(v) => v,
                ::core::result::Result::Err(e) => {
                    rt::recover(ctx, e);
                    break 'n #h;
                }
            }),
        };
        let body = match &n.kind {
            Kind::Script(t) => {
                let code =
                    lang::compile_script(&t.text, &t.origin, &g.scope, diags).map(|c| c.code);
                let s = g.snippet(code, "s");
                let stored = attempt(quote!(rt::store(ctx, &FLOW, #k, r)));
                quote! {
                    let r = #s(ctx).map(rt::Cow::<rt::Value>::into_owned);
                    #stored;
                    #next
                }
            }
            Kind::Branch {
                conditions,
                default,
            } => {
                let mut tries = Vec::new();
                for (e, to) in conditions {
                    let c = g.fresh("c");
                    let code = lang::compile_condition(&e.text, &e.origin, &g.scope, diags)
                        .map(|c| c.code)
                        .unwrap_or_else(|| quote!(::core::result::Result::Ok(false)));
                    g.fns.extend(quote! {
                        fn #c(__ctx: &rt::Ctx) -> ::core::result::Result<bool, rt::EvalError> { #code }
                    });
                    let label = &e.text;
                    let target = g.next_state(Some(&to.text));
                    let taken = attempt(quote!(rt::branch(ctx, &FLOW, #k, r, #label)));
                    tries.push(quote! {
                        let r = #c(ctx);
                        let taken = #taken;
                        if taken { break 'b #target; }
                    });
                }
                let fallback = match default {
                    Some(d) => {
                        let target = g.next_state(Some(&d.text));
                        quote!(rt::took(ctx, #k, "default"); #target)
                    }
                    None => {
                        quote!(rt::took(ctx, #k, "none"); return ::core::result::Result::Ok(rt::Yield::Finished))
                    }
                };
                quote!('b: { #(#tries)* #fallback })
            }
            Kind::HttpResponse {
                status,
                headers,
                body,
            } => {
                let st = u16::try_from(status.0).unwrap_or(500);
                let hs: Vec<TokenStream> = headers
                    .iter()
                    .map(|(name, t)| {
                        let v = g.template(t, diags);
                        quote!((::std::string::String::from(#name), rt::to_text(&*#v)))
                    })
                    .collect();
                let body_code = match body {
                    None => quote!(rt::Body::Static("{}")),
                    Some(b) if json_is_constant(b) => {
                        let mut s = String::new();
                        json_text(b, &mut s);
                        quote!(rt::Body::Static(#s))
                    }
                    Some(b) => g.json_text(b, diags),
                };
                let rf = g.fresh("r");
                g.fns.extend(quote! {
                    fn #rf(__ctx: &rt::Ctx) -> ::core::result::Result<rt::Response, rt::EvalError> {
                        ::core::result::Result::Ok(rt::Response {
                            status: #st,
                            headers: ::std::vec![#(#hs),*],
                            body: #body_code,
                        })
                    }
                });
                let then = opt_ix(n.next.as_ref().map(|x| pos(&x.text)));
                let response = attempt(quote!(rt::respond(ctx, &FLOW, #k, r)));
                quote! {
                    let r = #rf(ctx);
                    let response = #response;
                    return ::core::result::Result::Ok(rt::Yield::Respond { response, then: #then });
                }
            }
            Kind::Async { flow, payload } => {
                let target = &flow.text;
                let v = match payload {
                    Some(p) => g.json(p, diags),
                    None => quote!(rt::Cow::Owned(rt::Value::Null)),
                };
                let pf = g.fresh("p");
                g.fns.extend(quote! {
                    fn #pf(__ctx: &rt::Ctx) -> ::core::result::Result<rt::Value, rt::EvalError> {
                        ::core::result::Result::Ok(rt::Cow::<rt::Value>::into_owned(#v))
                    }
                });
                let spawned = attempt(quote!(rt::spawn(ctx, &FLOW, #k, #target, r)));
                quote! {
                    let r = #pf(ctx);
                    #spawned;
                    #next
                }
            }
            Kind::HttpRequest(req) => {
                let call = g.http_call(req, diags);
                g.action(n, k, call, &attempt, &pos)
            }
            Kind::Exec(ex) => {
                let call = g.exec_call(ex, diags);
                g.action(n, k, call, &attempt, &pos)
            }
            Kind::Log { level, message } => {
                let lvl = format_ident!("{}", format!("{level:?}"));
                let m = if lang::template_is_constant(&message.text) {
                    let s = &message.text;
                    quote!(::core::result::Result::Ok(::std::string::String::from(#s)))
                } else {
                    let code =
                        lang::compile_template(&message.text, &message.origin, &g.scope, diags)
                            .map(|c| c.code);
                    let t = g.snippet(code, "t");
                    quote!(rt::text(#t(ctx)))
                };
                let logged = attempt(quote!(rt::log(ctx, &FLOW, #k, rt::LogLevel::#lvl, r)));
                quote! {
                    let r = #m;
                    #logged;
                    #next
                }
            }
            Kind::Invalid => quote!(return ::core::result::Result::Ok(rt::Yield::Finished)),
        };
        let body = if handler.is_some() {
            quote!('n: { #body })
        } else {
            quote!({ #body })
        };
        arms.push(quote!(State::#v => #body));
    }
    let fns = g.fns;
    let reads = g.scope.payload.borrow().clone();
    let payload_fields = if reads.whole {
        quote!(::core::option::Option::None)
    } else {
        let fields = reads.fields.iter();
        quote!(::core::option::Option::Some(&[#(#fields),*]))
    };
    let m = mangle("flow_", name);
    quote! {
        #[doc = concat!("The flow `", #name, "` compiled from `", #file, "`.")]
        #[allow(non_camel_case_types, unreachable_code, unused_mut, unused_assignments, unused_labels, clippy::all)]
        pub mod #m {
            use ::hookflow_runtime::__gen as rt;

            pub static FLOW: rt::FlowDef = rt::FlowDef {
                name: #name,
                version: #version,
                file: #file,
                triggers: &[#(#triggers),*],
                nodes: &[#(#node_defs),*],
                secrets: &[#(#secrets),*],
                payload_fields: #payload_fields,
                run,
            };

            #fns

            #[derive(Clone, Copy)]
            enum State { #(#variants),* }

            /// Runs the flow from node `start` until it answers or finishes.
            pub fn run(ctx: &mut rt::Ctx, start: rt::NodeIx) -> ::core::result::Result<rt::Yield, rt::FlowError> {
                let mut state = match start {
                    #(#starts,)*
                    _ => return ::core::result::Result::Err(rt::bad_start(&FLOW, start)),
                };
                loop {
                    state = match state {
                        #(#arms)*
                    };
                }
            }
        }
    }
}

/// For each node: whether an entry (a trigger target, or node 0) reaches it through `next`,
/// branch and `default` edges alone.
fn reachable_without_on_error(f: &Flow) -> Vec<bool> {
    let pos = |id: &str| f.nodes.iter().position(|n| n.id.text == id);
    let mut seen = vec![false; f.nodes.len()];
    let mut stack: Vec<usize> = f
        .triggers
        .iter()
        .filter_map(|t| pos(&t.target.text))
        .collect();
    if !f.nodes.is_empty() {
        stack.push(0);
    }
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        for (label, to) in edges(&f.nodes[i]) {
            if label != "on_error" {
                stack.extend(pos(&to.text));
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Origin, Span};

    fn s(t: &str) -> Json {
        let span = Span {
            file: 0,
            line: 1,
            col: 1,
            len: 1,
        };
        Json::Str(Text {
            text: t.to_owned(),
            origin: Origin {
                file: 0,
                line: 1,
                col: 1,
                block: false,
            },
            span,
        })
    }

    #[test]
    fn constant_json_is_serialised_with_escapes() {
        let j = Json::Obj(vec![
            ("a\"b".into(), s("line\nnext\t\u{1}")),
            (
                "n".into(),
                Json::Arr(vec![
                    Json::Int(-3),
                    Json::Float(1.5),
                    Json::Null,
                    Json::Bool(true),
                ]),
            ),
        ]);
        let mut out = String::new();
        json_text(&j, &mut out);
        assert_eq!(
            out,
            r#"{"a\"b":"line\nnext\t\u0001","n":[-3,1.5,null,true]}"#
        );
        assert!(json_is_constant(&j));
        assert!(!json_is_constant(&Json::Arr(vec![s("{{event.tenant}}")])));
    }

    #[test]
    fn mangled_names_are_identifiers_even_for_keywords_and_bad_ids() {
        assert_eq!(mangle("N_", "match").to_string(), "N_match");
        assert_eq!(mangle("flow_", "a-b.c").to_string(), "flow_a_b_c");
    }
}
