//! Type checker and code generator of the flow language, in one walk over the syntax tree: each
//! expression gets its static [`Type`] and its Rust representation ([`Repr`]) together, so the
//! fast paths the generated code takes (borrowed paths, typed comparisons) always agree with what
//! the checker proved. Errors are collected (never more than one per cause: an expression whose
//! type is unknown because of an earlier error has [`Type::Error`], which silences the checks
//! that depend on it).
//!
//! Generated code only calls non-generic helpers of `::hookflow_runtime::__gen` (`runtime/src/gen/ops.rs`).

use super::ast::{BinOp, Block, Expr, ExprKind, Name, Stmt, UnOp};
use super::lexer::Sp;
use super::types::{Kinds, Record, Type};
use super::Scope;
use crate::diag::{did_you_mean, Code, Diagnostic, Origin};
use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

/// Invalid token: unterminated string, unknown escape, stray character, bad number.
pub const HF0301: Code = Code("HF0301");
/// Syntax error: a token where the grammar does not allow it.
pub const HF0302: Code = Code("HF0302");
/// Unknown variable.
pub const HF0303: Code = Code("HF0303");
/// Unknown field of a record (`event.tenat`, `nodes.nope`, `error.x`, `headers.x`).
pub const HF0304: Code = Code("HF0304");
/// Unknown method.
pub const HF0305: Code = Code("HF0305");
/// Unknown function or macro.
pub const HF0306: Code = Code("HF0306");
/// Wrong number of arguments (methods, `format!` placeholders).
pub const HF0307: Code = Code("HF0307");
/// Comparison of values with no type in common (`headers['x'] == 5`, `'a' < 1`).
pub const HF0308: Code = Code("HF0308");
/// Operator applied to values of the wrong type (`'a' + true`, `-'x'`, `!1`).
pub const HF0309: Code = Code("HF0309");
/// A condition (branch `expression`, `if`) that is not boolean.
pub const HF0310: Code = Code("HF0310");
/// A method called on, or given an argument of, a type it does not accept.
pub const HF0311: Code = Code("HF0311");
/// Field access or indexing on a type that has no fields or cannot be indexed.
pub const HF0312: Code = Code("HF0312");
/// Template syntax error (unclosed or empty `{{ }}`).
pub const HF0313: Code = Code("HF0313");
/// Invalid `format!` string.
pub const HF0314: Code = Code("HF0314");
/// A script without an output expression.
pub const HF0315: Code = Code("HF0315");
/// A key written twice in one object literal.
pub const HF0316: Code = Code("HF0316");

/// How a compiled expression is held in the generated Rust code.
#[derive(Debug, Clone)]
pub enum Repr {
    /// `&'a Value` borrowed from the delivery or a node output: no copy.
    Ref(TokenStream),
    /// `&Value` borrowed from a local of the snippet.
    Tmp(TokenStream),
    /// A `V<'a>` (`Cow<'a, Value>`) expression.
    Cow(TokenStream),
    /// A `V<'a>` local variable.
    CowLocal(Ident),
    /// A Rust `bool`.
    Bool(TokenStream),
    /// A Rust `f64`.
    Num(TokenStream),
    NumLit(f64),
    /// A Rust `String`.
    Str(TokenStream),
    StrLit(String),
    /// A runtime record, materialised as a JSON object only if used as a value.
    Record(Record),
    /// After an error: never emitted.
    Dead,
}

/// A checked expression.
#[derive(Debug, Clone)]
pub struct Typed {
    pub ty: Type,
    pub repr: Repr,
}

impl Typed {
    fn dead() -> Typed {
        Typed {
            ty: Type::Error,
            repr: Repr::Dead,
        }
    }

    fn new(ty: Type, repr: Repr) -> Typed {
        Typed { ty, repr }
    }
}

const BUILTINS: [&str; 4] = ["event", "headers", "nodes", "error"];
const EVENT_FIELDS: [&str; 5] = ["payload", "headers", "tenant", "event_type", "delivery_id"];
const ERROR_FIELDS: [&str; 3] = ["kind", "message", "node"];

/// Signature of a method: argument count, receiver kinds, argument kinds.
struct MethodSig {
    name: &'static str,
    recv: Kinds,
    args: &'static [Kinds],
}

const STR: Kinds = Kinds::STRING;
const SAO: Kinds = Kinds(Kinds::STRING.0 | Kinds::ARRAY.0 | Kinds::OBJECT.0);
const KEY: Kinds = Kinds(Kinds::STRING.0 | Kinds::NUMBER.0);

const METHODS: [MethodSig; 17] = [
    MethodSig {
        name: "len",
        recv: SAO,
        args: &[],
    },
    MethodSig {
        name: "is_empty",
        recv: SAO,
        args: &[],
    },
    MethodSig {
        name: "contains",
        recv: SAO,
        args: &[Kinds::ANY],
    },
    MethodSig {
        name: "starts_with",
        recv: STR,
        args: &[STR],
    },
    MethodSig {
        name: "ends_with",
        recv: STR,
        args: &[STR],
    },
    MethodSig {
        name: "to_lower",
        recv: STR,
        args: &[],
    },
    MethodSig {
        name: "to_upper",
        recv: STR,
        args: &[],
    },
    MethodSig {
        name: "trim",
        recv: STR,
        args: &[],
    },
    MethodSig {
        name: "split",
        recv: STR,
        args: &[STR],
    },
    MethodSig {
        name: "join",
        recv: Kinds::ARRAY,
        args: &[STR],
    },
    MethodSig {
        name: "keys",
        recv: Kinds::OBJECT,
        args: &[],
    },
    MethodSig {
        name: "values",
        recv: Kinds::OBJECT,
        args: &[],
    },
    MethodSig {
        name: "first",
        recv: Kinds::ARRAY,
        args: &[],
    },
    MethodSig {
        name: "last",
        recv: Kinds::ARRAY,
        args: &[],
    },
    MethodSig {
        name: "get",
        recv: Kinds(Kinds::ARRAY.0 | Kinds::OBJECT.0),
        args: &[KEY],
    },
    MethodSig {
        name: "to_string",
        recv: Kinds::ANY,
        args: &[],
    },
    MethodSig {
        name: "to_number",
        recv: Kinds(Kinds::STRING.0 | Kinds::NUMBER.0 | Kinds::BOOL.0),
        args: &[],
    },
];

/// Names of all methods (for "did you mean").
pub fn method_names() -> impl Iterator<Item = &'static str> {
    METHODS.iter().map(|m| m.name)
}

fn a_kinds(k: Kinds) -> String {
    let names = [
        (Kinds::STRING, "strings"),
        (Kinds::NUMBER, "numbers"),
        (Kinds::BOOL, "bools"),
        (Kinds::ARRAY, "arrays"),
        (Kinds::OBJECT, "objects"),
        (Kinds::NULL, "null"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(x, _)| k.has(*x))
        .map(|(_, n)| *n)
        .collect();
    v.join(", ")
}

fn unparen(e: &Expr) -> &Expr {
    match &e.kind {
        ExprKind::Paren(x) => unparen(x),
        _ => e,
    }
}

/// One checking + code generation pass over one snippet.
pub struct Checker<'s> {
    text: &'s str,
    origin: &'s Origin,
    scope: &'s Scope,
    diags: &'s mut Vec<Diagnostic>,
    /// Locals in scope, innermost last.
    locals: Vec<(String, Type, Repr)>,
    pub errors: usize,
    rt: TokenStream,
    /// Indexes in `locals` of locals bound to exactly `event.payload` (`let pr = event.payload;`):
    /// `pr.<field>` reads one field, like `event.payload.<field>`.
    payload_aliases: Vec<usize>,
}

impl<'s> Checker<'s> {
    pub fn new(
        text: &'s str,
        origin: &'s Origin,
        scope: &'s Scope,
        diags: &'s mut Vec<Diagnostic>,
    ) -> Self {
        Checker {
            text,
            origin,
            scope,
            diags,
            locals: Vec::new(),
            errors: 0,
            rt: quote!(::hookflow_runtime::__gen),
            payload_aliases: Vec::new(),
        }
    }

    /// Reports a diagnostic at `sp`.
    pub fn error(&mut self, code: Code, sp: Sp, message: String, label: String) -> &mut Diagnostic {
        self.errors += 1;
        let span = self.origin.span(self.text, sp.start, sp.end);
        self.diags
            .push(Diagnostic::new(code, span, message).label(label));
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    // ---------------------------------------------------------------- representations

    /// A `&Value` expression for an operand.
    pub fn operand(&self, r: &Repr) -> TokenStream {
        let rt = &self.rt;
        match r {
            Repr::Ref(t) | Repr::Tmp(t) => t.clone(),
            Repr::Cow(t) => quote!(&*(#t)),
            Repr::CowLocal(id) => quote!(&*#id),
            Repr::Bool(t) => quote!(&#rt::Value::Bool(#t)),
            Repr::Num(t) => quote!(&#rt::num_value(#t)?),
            Repr::NumLit(x) => {
                let x = Literal::f64_suffixed(*x);
                quote!(&#rt::num_lit(#x))
            }
            Repr::Str(t) => quote!(&#rt::Value::String(#t)),
            Repr::StrLit(s) => quote!(&#rt::str_lit(#s)),
            Repr::Record(Record::Error) => quote!(&__ctx.error),
            Repr::Record(r) => {
                let v = self.record_value(*r);
                quote!(&#v)
            }
            Repr::Dead => quote!(&#rt::NULL),
        }
    }

    /// A record as an owned JSON object.
    fn record_value(&self, r: Record) -> TokenStream {
        let rt = &self.rt;
        match r {
            Record::Event => {
                self.scope.payload.borrow_mut().whole = true;
                quote!(#rt::event_value(&__ctx.event))
            }
            Record::Headers => quote!(#rt::headers_value(&__ctx.event.headers)),
            Record::Error => quote!(#rt::own(&__ctx.error)),
            Record::Nodes => {
                let mut nodes = self.scope.nodes.clone();
                nodes.sort();
                let entries = nodes.iter().map(|(n, ix)| quote!((#n, #ix)));
                quote!(#rt::nodes_value(&__ctx.outputs, &[#(#entries),*]))
            }
        }
    }

    /// A `V<'a>` expression.
    pub fn cow(&self, r: &Repr) -> TokenStream {
        let rt = &self.rt;
        match r {
            Repr::Ref(t) => quote!(#rt::Cow::Borrowed(#t)),
            Repr::Cow(t) => t.clone(),
            Repr::Record(Record::Error) => quote!(#rt::Cow::Borrowed(&__ctx.error)),
            Repr::Record(rec) => {
                let v = self.record_value(*rec);
                quote!(#rt::Cow::Owned(#v))
            }
            Repr::Bool(t) => quote!(#rt::Cow::Owned(#rt::Value::Bool(#t))),
            Repr::Num(t) => quote!(#rt::Cow::Owned(#rt::num_value(#t)?)),
            Repr::NumLit(x) => {
                let x = Literal::f64_suffixed(*x);
                quote!(#rt::Cow::Owned(#rt::num_lit(#x)))
            }
            Repr::Str(t) => quote!(#rt::Cow::Owned(#rt::Value::String(#t))),
            Repr::StrLit(s) => quote!(#rt::Cow::Owned(#rt::str_lit(#s))),
            Repr::Tmp(_) | Repr::CowLocal(_) => {
                let op = self.operand(r);
                quote!(#rt::Cow::Owned(#rt::own(#op)))
            }
            Repr::Dead => quote!(#rt::Cow::Borrowed(&#rt::NULL)),
        }
    }

    /// Like [`Checker::cow`], but a local is moved out instead of copied (the snippet's result).
    pub fn cow_final(&self, r: &Repr) -> TokenStream {
        match r {
            Repr::CowLocal(id) => quote!(#id),
            _ => self.cow(r),
        }
    }

    /// A Rust `bool` expression (run-time check unless statically a bool).
    pub fn boolean(&self, r: &Repr) -> TokenStream {
        match r {
            Repr::Bool(t) => t.clone(),
            _ => {
                let rt = &self.rt;
                let op = self.operand(r);
                quote!(#rt::as_bool(#op)?)
            }
        }
    }

    fn number(&self, r: &Repr) -> TokenStream {
        match r {
            Repr::Num(t) => t.clone(),
            Repr::NumLit(x) => {
                let x = Literal::f64_suffixed(*x);
                quote!(#x)
            }
            _ => {
                let rt = &self.rt;
                let op = self.operand(r);
                quote!(#rt::as_num(#op)?)
            }
        }
    }

    /// A `&str` argument: a literal, or a run-time checked string.
    fn str_arg(&self, r: &Repr) -> TokenStream {
        match r {
            Repr::StrLit(s) => quote!(#s),
            _ => {
                let rt = &self.rt;
                let op = self.operand(r);
                quote!(#rt::as_str(#op)?)
            }
        }
    }

    /// Pushes the text form of `r` onto the `String` named `buf` (templates, `format!`).
    pub fn push_text(&self, buf: &Ident, r: &Repr) -> TokenStream {
        let rt = &self.rt;
        match r {
            Repr::StrLit(s) => quote!(#buf.push_str(#s);),
            Repr::Str(t) => quote!(#buf.push_str(&#t);),
            Repr::Num(_) | Repr::NumLit(_) => {
                let n = self.number(r);
                quote!(#rt::push_num(&mut #buf, #n);)
            }
            Repr::Bool(t) => quote!(#rt::push_bool(&mut #buf, #t);),
            _ => {
                let op = self.operand(r);
                quote!(#rt::push_value(&mut #buf, #op);)
            }
        }
    }

    /// Navigates into a value: `by_ref` takes and returns `&Value`, `by_cow` takes and returns a
    /// `V<'a>`. Borrowed stays borrowed.
    fn navigate(
        &self,
        r: &Repr,
        by_ref: impl Fn(TokenStream) -> TokenStream,
        by_cow: impl Fn(TokenStream) -> TokenStream,
    ) -> Repr {
        match r {
            Repr::Ref(t) => Repr::Ref(by_ref(t.clone())),
            Repr::Tmp(t) => Repr::Tmp(by_ref(t.clone())),
            Repr::CowLocal(id) => Repr::Tmp(by_ref(quote!(&*#id))),
            Repr::Record(Record::Error) => Repr::Ref(by_ref(quote!(&__ctx.error))),
            Repr::Dead => Repr::Dead,
            _ => Repr::Cow(by_cow(self.cow(r))),
        }
    }

    // ---------------------------------------------------------------- blocks

    /// Checks a block's statements in a new scope; returns the statements' code and the tail.
    pub fn block(&mut self, b: &Block) -> (TokenStream, Option<Typed>) {
        let mark = self.locals.len();
        let mut code = TokenStream::new();
        for s in &b.stmts {
            match s {
                Stmt::Let(name, value) => {
                    let alias = self.is_event_payload(value);
                    let t = if alias {
                        Self::payload()
                    } else {
                        self.expr(value)
                    };
                    let stmt = self.bind(name, t);
                    if alias {
                        self.payload_aliases
                            .push(self.locals.len().saturating_sub(1));
                    }
                    code.extend(stmt);
                }
                Stmt::Expr(e) => {
                    let t = self.expr(e);
                    match &t.repr {
                        Repr::Record(_) | Repr::Dead => {}
                        Repr::Bool(c)
                        | Repr::Num(c)
                        | Repr::Str(c)
                        | Repr::Ref(c)
                        | Repr::Tmp(c)
                        | Repr::Cow(c) => code.extend(quote!(let _ = #c;)),
                        Repr::NumLit(_) | Repr::StrLit(_) | Repr::CowLocal(_) => {}
                    }
                }
            }
        }
        let tail = b.tail.as_deref().map(|e| self.expr(e));
        self.locals.truncate(mark);
        self.payload_aliases.retain(|&i| i < mark);
        (code, tail)
    }

    /// `let name = value;`: emits the binding and records the local.
    fn bind(&mut self, name: &Name, t: Typed) -> TokenStream {
        let rt = self.rt.clone();
        let id = format_ident!("__v_{}", name.text);
        let (code, repr) = match &t.repr {
            Repr::Ref(c) => (quote!(let #id: &#rt::Value = #c;), Repr::Ref(quote!(#id))),
            Repr::Tmp(c) => (quote!(let #id: &#rt::Value = #c;), Repr::Tmp(quote!(#id))),
            Repr::CowLocal(other) => (
                quote!(let #id: &#rt::Value = &*#other;),
                Repr::Tmp(quote!(#id)),
            ),
            Repr::Cow(c) => (
                quote!(let #id: #rt::V<'_> = #c;),
                Repr::CowLocal(id.clone()),
            ),
            Repr::Bool(c) => (quote!(let #id: bool = #c;), Repr::Bool(quote!(#id))),
            Repr::Num(_) | Repr::NumLit(_) => {
                let n = self.number(&t.repr);
                (quote!(let #id: f64 = #n;), Repr::Num(quote!(#id)))
            }
            Repr::Str(_) | Repr::StrLit(_) => {
                let c = self.cow(&t.repr);
                (
                    quote!(let #id: #rt::V<'_> = #c;),
                    Repr::CowLocal(id.clone()),
                )
            }
            Repr::Record(r) => (TokenStream::new(), Repr::Record(*r)),
            Repr::Dead => (TokenStream::new(), Repr::Dead),
        };
        self.locals.push((name.text.clone(), t.ty, repr));
        code
    }

    // ---------------------------------------------------------------- expressions

    pub fn expr(&mut self, e: &Expr) -> Typed {
        let rt = self.rt.clone();
        match &e.kind {
            ExprKind::Null => Typed::new(Type::NULL, Repr::Ref(quote!(&#rt::NULL))),
            ExprKind::Bool(b) => Typed::new(Type::BOOL, Repr::Bool(quote!(#b))),
            ExprKind::Num(n) => Typed::new(Type::NUMBER, Repr::NumLit(*n)),
            ExprKind::Str(s) => Typed::new(Type::STRING, Repr::StrLit(s.clone())),
            ExprKind::Paren(x) => self.expr(x),
            ExprKind::Array(items) => {
                let typed: Vec<Typed> = items.iter().map(|i| self.expr(i)).collect();
                if typed.iter().any(|t| t.ty == Type::Error) {
                    return Typed::dead();
                }
                let n = items.len();
                if n == 0 {
                    return Typed::new(
                        Type::Json(Kinds::ARRAY),
                        Repr::Cow(quote!(#rt::Cow::Owned(#rt::array(0)))),
                    );
                }
                let pushes = typed.iter().map(|t| {
                    let c = self.cow(&t.repr);
                    quote!(#rt::push(&mut __arr, #c);)
                });
                Typed::new(
                    Type::Json(Kinds::ARRAY),
                    Repr::Cow(quote!({
                        let mut __arr = #rt::array(#n);
                        #(#pushes)*
                        #rt::Cow::Owned(__arr)
                    })),
                )
            }
            ExprKind::Object(entries) => {
                let mut seen: Vec<&str> = Vec::new();
                let mut typed = Vec::new();
                for (k, v) in entries {
                    if seen.contains(&k.text.as_str()) {
                        self.error(
                            HF0316,
                            k.sp,
                            format!("duplicate key `{}` in object literal", k.text),
                            "this key was already given".to_owned(),
                        );
                    }
                    seen.push(&k.text);
                    typed.push((k.text.clone(), self.expr(v)));
                }
                if typed.iter().any(|(_, t)| t.ty == Type::Error) {
                    return Typed::dead();
                }
                if typed.is_empty() {
                    return Typed::new(
                        Type::Json(Kinds::OBJECT),
                        Repr::Cow(quote!(#rt::Cow::Owned(#rt::object()))),
                    );
                }
                let inserts = typed.iter().map(|(k, t)| {
                    let c = self.cow(&t.repr);
                    quote!(#rt::insert(&mut __obj, #k, #c);)
                });
                Typed::new(
                    Type::Json(Kinds::OBJECT),
                    Repr::Cow(quote!({
                        let mut __obj = #rt::object();
                        #(#inserts)*
                        #rt::Cow::Owned(__obj)
                    })),
                )
            }
            ExprKind::Var(name) => {
                if self.payload_alias(e).is_some() {
                    self.scope.payload.borrow_mut().whole = true;
                }
                self.var(name)
            }
            ExprKind::Field(base, name) => {
                // `event.payload.<field>` reads one field: recorded as that field, not as the
                // whole payload (which `field` records for any other use).
                let alias = self.payload_alias(base);
                let b = if alias.is_some() || self.is_event_payload(base) {
                    self.scope
                        .payload
                        .borrow_mut()
                        .fields
                        .insert(name.text.clone());
                    match alias {
                        Some(v) => self.var(v),
                        None => Self::payload(),
                    }
                } else {
                    self.expr(base)
                };
                self.field(b, name)
            }
            ExprKind::Index(base, ix) => {
                let b = self.expr(base);
                let i = self.expr(ix);
                self.index(b, i, ix)
            }
            ExprKind::Method(recv, name, args) => self.method(recv, name, args),
            ExprKind::Call(name, _) => {
                let msg = format!("unknown function `{}`", name.text);
                let help = if name.text == "format" {
                    Some("`format!` is a macro: write `format!(\"...{}\", value)`".to_owned())
                } else if method_names().any(|m| m == name.text) {
                    Some(format!(
                        "`{0}` is a method: write `value.{0}(...)`",
                        name.text
                    ))
                } else {
                    did_you_mean(&name.text, ["format!"])
                };
                let d = self.error(
                    HF0306,
                    name.sp,
                    msg,
                    "the flow language has no functions, only methods and `format!`".to_owned(),
                );
                if let Some(h) = help {
                    *d = d.clone().help(h);
                }
                Typed::dead()
            }
            ExprKind::Macro(name, args) => {
                if name.text != "format" {
                    let help = did_you_mean(&name.text, ["format"])
                        .map(|_| "did you mean `format!`?".to_owned());
                    let d = self.error(
                        HF0306,
                        name.sp,
                        format!("unknown macro `{}!`", name.text),
                        "`format!` is the only macro".to_owned(),
                    );
                    if let Some(h) = help {
                        *d = d.clone().help(h);
                    }
                    return Typed::dead();
                }
                self.format(name, args)
            }
            ExprKind::Unary(op, op_sp, x) => {
                let t = self.expr(x);
                let Some(k) = t.ty.kinds() else {
                    return Typed::dead();
                };
                match op {
                    UnOp::Not => {
                        if !k.has(Kinds::BOOL) {
                            self.error(
                                HF0309,
                                *op_sp,
                                format!("cannot apply `!` to `{}`", t.ty),
                                format!("`!` needs a bool, this is `{}`", t.ty),
                            );
                            return Typed::dead();
                        }
                        let b = self.boolean(&t.repr);
                        Typed::new(Type::BOOL, Repr::Bool(quote!((!#b))))
                    }
                    UnOp::Neg => {
                        if !k.has(Kinds::NUMBER) {
                            self.error(
                                HF0309,
                                *op_sp,
                                format!("cannot negate `{}`", t.ty),
                                format!("unary `-` needs a number, this is `{}`", t.ty),
                            );
                            return Typed::dead();
                        }
                        if let Repr::NumLit(x) = t.repr {
                            return Typed::new(Type::NUMBER, Repr::NumLit(-x));
                        }
                        let n = self.number(&t.repr);
                        Typed::new(Type::NUMBER, Repr::Num(quote!((-#n))))
                    }
                }
            }
            ExprKind::Binary(op, op_sp, a, b) => self.binary(*op, *op_sp, a, b),
            ExprKind::If(c, then, otherwise) => self.if_expr(c, then, otherwise.as_ref()),
        }
    }

    fn var(&mut self, name: &Name) -> Typed {
        if let Some((_, ty, repr)) = self.locals.iter().rev().find(|(n, _, _)| *n == name.text) {
            return Typed::new(*ty, repr.clone());
        }
        let rec = match name.text.as_str() {
            "event" => Some(Record::Event),
            "headers" => Some(Record::Headers),
            "nodes" => Some(Record::Nodes),
            "error" if self.scope.error => Some(Record::Error),
            _ => None,
        };
        if let Some(r) = rec {
            return Typed::new(Type::Record(r), Repr::Record(r));
        }
        let mut names: Vec<String> = self.locals.iter().map(|(n, _, _)| n.clone()).collect();
        names.extend(
            BUILTINS
                .iter()
                .filter(|b| **b != "error" || self.scope.error)
                .map(|b| (*b).to_owned()),
        );
        let help = did_you_mean(&name.text, names.iter().map(String::as_str));
        let in_scope = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let is_error = name.text == "error";
        let d = self.error(
            HF0303,
            name.sp,
            format!("unknown variable `{}`", name.text),
            "not found in this scope".to_owned(),
        );
        if is_error {
            *d = d
                .clone()
                .note("`error` is only available in nodes that only a failure leads to (`on_error` targets and the nodes after them)");
        }
        *d = d.clone().note(format!("names in scope: {in_scope}"));
        if let Some(h) = help {
            *d = d.clone().help(h);
        }
        Typed::dead()
    }

    /// The value of `event.payload`.
    fn payload() -> Typed {
        Typed::new(Type::ANY, Repr::Ref(quote!(&__ctx.event.payload)))
    }

    /// The name of `e` if it is a local bound to exactly `event.payload` (the innermost local
    /// of that name).
    fn payload_alias<'e>(&self, e: &'e Expr) -> Option<&'e Name> {
        let ExprKind::Var(v) = &e.kind else {
            return None;
        };
        let ix = self.locals.iter().rposition(|(n, _, _)| *n == v.text)?;
        self.payload_aliases.contains(&ix).then_some(v)
    }

    /// `event.payload`, with `event` the built-in (not a local of that name).
    fn is_event_payload(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Field(base, name) if name.text == "payload" => {
                matches!(&base.kind, ExprKind::Var(v) if v.text == "event")
                    && !self.locals.iter().any(|(n, _, _)| n == "event")
            }
            _ => false,
        }
    }

    fn field(&mut self, b: Typed, name: &Name) -> Typed {
        let rt = self.rt.clone();
        let n = name.text.as_str();
        match b.ty {
            Type::Error => Typed::dead(),
            Type::Record(Record::Event) => match n {
                "payload" => {
                    self.scope.payload.borrow_mut().whole = true;
                    Self::payload()
                }
                "headers" => {
                    Typed::new(Type::Record(Record::Headers), Repr::Record(Record::Headers))
                }
                "tenant" => Typed::new(Type::STRING, Repr::Ref(quote!(&__ctx.event.tenant))),
                "event_type" => {
                    Typed::new(Type::STRING, Repr::Ref(quote!(&__ctx.event.event_type)))
                }
                "delivery_id" => {
                    Typed::new(Type::STRING, Repr::Ref(quote!(&__ctx.event.delivery_id)))
                }
                _ => self.unknown_field(name, Record::Event, &EVENT_FIELDS),
            },
            Type::Record(Record::Error) => {
                if ERROR_FIELDS.contains(&n) {
                    Typed::new(
                        Type::STRING,
                        Repr::Ref(quote!(#rt::field(&__ctx.error, #n)?)),
                    )
                } else {
                    self.unknown_field(name, Record::Error, &ERROR_FIELDS)
                }
            }
            Type::Record(Record::Nodes) => match self.scope.nodes.iter().find(|(id, _)| id == n) {
                Some((_, ix)) => {
                    let ix = *ix;
                    Typed::new(Type::ANY, Repr::Ref(quote!(#rt::output(__ctx, #ix))))
                }
                None => {
                    let ids: Vec<String> =
                        self.scope.nodes.iter().map(|(id, _)| id.clone()).collect();
                    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                    self.unknown_field(name, Record::Nodes, &ids)
                }
            },
            Type::Record(Record::Headers) => {
                let header = n.replace('_', "-");
                let d = self.error(
                    HF0304,
                    name.sp,
                    format!("headers have no field `{n}`"),
                    "headers are looked up by name with `[...]`".to_owned(),
                );
                *d = d.clone().help(format!("write `headers['{header}']`"));
                Typed::dead()
            }
            Type::Json(k) => {
                if !k.has(Kinds::OBJECT | Kinds::NULL) {
                    self.error(
                        HF0312,
                        name.sp,
                        format!("no field `{n}` on `{}`", b.ty),
                        format!("a `{}` has no fields", b.ty),
                    );
                    return Typed::dead();
                }
                let ty = if k.has(Kinds::OBJECT) {
                    Type::ANY
                } else {
                    Type::NULL
                };
                let rt2 = rt.clone();
                let repr = self.navigate(
                    &b.repr,
                    |t| quote!(#rt::field(#t, #n)?),
                    |t| quote!(#rt2::field_v(#t, #n)?),
                );
                Typed::new(ty, repr)
            }
        }
    }

    fn unknown_field(&mut self, name: &Name, r: Record, fields: &[&str]) -> Typed {
        let help = did_you_mean(&name.text, fields.iter().copied());
        let list = fields
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let (message, label, note) = match r {
            Record::Nodes => (
                format!("no node `{}` whose output can be read here", name.text),
                "not a node of this flow".to_owned(),
                if fields.is_empty() {
                    "this flow has no nodes whose output can be read".to_owned()
                } else {
                    format!("nodes: {list}")
                },
            ),
            _ => (
                format!("`{}` has no field `{}`", r.name(), name.text),
                "unknown field".to_owned(),
                format!("fields of `{}`: {list}", r.name()),
            ),
        };
        let d = self.error(HF0304, name.sp, message, label);
        *d = d.clone().note(note);
        if let Some(h) = help {
            *d = d.clone().help(h);
        }
        Typed::dead()
    }

    fn index(&mut self, b: Typed, i: Typed, ix: &Expr) -> Typed {
        let rt = self.rt.clone();
        if b.ty == Type::Error || i.ty == Type::Error {
            return Typed::dead();
        }
        let ik = i.ty.kinds().unwrap_or(Kinds::ANY);
        match b.ty {
            Type::Record(Record::Headers) => {
                if let Repr::StrLit(s) = &i.repr {
                    let lower = s.to_ascii_lowercase();
                    return Typed::new(
                        Type::Json(Kinds::STRING | Kinds::NULL),
                        Repr::Ref(quote!(#rt::header(&__ctx.event.headers, #lower))),
                    );
                }
                if !ik.has(Kinds::STRING) {
                    self.error(
                        HF0312,
                        ix.sp,
                        format!("headers are indexed by name, not by `{}`", i.ty),
                        "expected a string".to_owned(),
                    );
                    return Typed::dead();
                }
                let op = self.operand(&i.repr);
                Typed::new(
                    Type::Json(Kinds::STRING | Kinds::NULL),
                    Repr::Ref(quote!(#rt::header_dyn(&__ctx.event.headers, #op)?)),
                )
            }
            Type::Record(r) => {
                if let Repr::StrLit(s) = &i.repr {
                    let name = Name {
                        text: s.clone(),
                        sp: ix.sp,
                    };
                    return self.field(b, &name);
                }
                self.error(
                    HF0312,
                    ix.sp,
                    format!("`{}` can only be indexed with a literal name", r.name()),
                    "expected a string literal".to_owned(),
                );
                Typed::dead()
            }
            Type::Json(k) => {
                if !k.has(Kinds::ARRAY | Kinds::OBJECT | Kinds::NULL) {
                    self.error(
                        HF0312,
                        ix.sp,
                        format!("cannot index into `{}`", b.ty),
                        format!("a `{}` cannot be indexed", b.ty),
                    );
                    return Typed::dead();
                }
                if !ik.has(KEY) {
                    self.error(
                        HF0312,
                        ix.sp,
                        format!("cannot index with `{}`", i.ty),
                        "an index is a number (arrays) or a string (objects)".to_owned(),
                    );
                    return Typed::dead();
                }
                let ty = if k.has(Kinds::ARRAY | Kinds::OBJECT) {
                    Type::ANY
                } else {
                    Type::NULL
                };
                let rt2 = rt.clone();
                let repr = match &i.repr {
                    Repr::StrLit(s) => self.navigate(
                        &b.repr,
                        |t| quote!(#rt::field(#t, #s)?),
                        |t| quote!(#rt2::field_v(#t, #s)?),
                    ),
                    Repr::NumLit(n) => {
                        let n = Literal::f64_suffixed(*n);
                        self.navigate(
                            &b.repr,
                            |t| quote!(#rt::at(#t, #n)?),
                            |t| quote!(#rt2::at_v(#t, #n)?),
                        )
                    }
                    _ => {
                        let op = self.operand(&i.repr);
                        self.navigate(
                            &b.repr,
                            |t| quote!(#rt::index(#t, #op)?),
                            |t| quote!(#rt2::index_v(#t, #op)?),
                        )
                    }
                };
                Typed::new(ty, repr)
            }
            Type::Error => Typed::dead(),
        }
    }

    fn method(&mut self, recv: &Expr, name: &Name, args: &[Expr]) -> Typed {
        let rt = self.rt.clone();
        let r = self.expr(recv);
        let Some(sig) = METHODS.iter().find(|m| m.name == name.text) else {
            let help = did_you_mean(&name.text, method_names());
            let d = self.error(
                HF0305,
                name.sp,
                format!("unknown method `{}`", name.text),
                "no such method".to_owned(),
            );
            *d = d.clone().note(format!(
                "methods: {}",
                method_names().collect::<Vec<_>>().join(", ")
            ));
            if let Some(h) = help {
                *d = d.clone().help(h);
            }
            return Typed::dead();
        };
        let a: Vec<Typed> = args.iter().map(|x| self.expr(x)).collect();
        if a.len() != sig.args.len() {
            let n = sig.args.len();
            self.error(
                HF0307,
                name.sp,
                format!(
                    "`{}` takes {n} argument{} but {} {} given",
                    sig.name,
                    if n == 1 { "" } else { "s" },
                    a.len(),
                    if a.len() == 1 { "was" } else { "were" }
                ),
                format!("expected {n} argument{}", if n == 1 { "" } else { "s" }),
            );
            return Typed::dead();
        }
        if r.ty == Type::Error || a.iter().any(|t| t.ty == Type::Error) {
            return Typed::dead();
        }
        let rk = r.ty.kinds().unwrap_or(Kinds::ANY);
        if !rk.has(sig.recv) {
            let d = self.error(
                HF0311,
                name.sp,
                format!("no method `{}` on `{}`", sig.name, r.ty),
                format!("`{}` is not available on `{}`", sig.name, r.ty),
            );
            *d = d
                .clone()
                .note(format!("`{}` works on {}", sig.name, a_kinds(sig.recv)));
            return Typed::dead();
        }
        for ((arg, t), want) in args.iter().zip(&a).zip(sig.args) {
            let k = t.ty.kinds().unwrap_or(Kinds::ANY);
            // `"abc".contains(1)`: a string only contains strings.
            let want = if sig.name == "contains" && rk.within(Kinds::STRING) {
                Kinds::STRING
            } else {
                *want
            };
            if !k.has(want) {
                self.error(
                    HF0311,
                    arg.sp,
                    format!("`{}` expects {}, found `{}`", sig.name, a_kinds(want), t.ty),
                    "wrong type of argument".to_owned(),
                );
                return Typed::dead();
            }
        }
        let op = self.operand(&r.repr);
        let m = sig.name;
        let rt2 = rt.clone();
        match m {
            "len" => Typed::new(Type::NUMBER, Repr::Num(quote!(#rt::len(#op)?))),
            "is_empty" => Typed::new(Type::BOOL, Repr::Bool(quote!(#rt::is_empty(#op)?))),
            "contains" => {
                let code = match &a[0].repr {
                    Repr::StrLit(s) => quote!(#rt::contains_str(#op, #s)?),
                    other => {
                        let x = self.operand(other);
                        quote!(#rt::contains(#op, #x)?)
                    }
                };
                Typed::new(Type::BOOL, Repr::Bool(code))
            }
            "starts_with" | "ends_with" => {
                let f = format_ident!("{}", m);
                let s = self.str_arg(&a[0].repr);
                Typed::new(Type::BOOL, Repr::Bool(quote!(#rt::#f(#op, #s)?)))
            }
            "to_lower" | "to_upper" | "trim" => {
                let f = format_ident!("{}", m);
                Typed::new(Type::STRING, Repr::Str(quote!(#rt::#f(#op)?)))
            }
            "split" => {
                let s = self.str_arg(&a[0].repr);
                Typed::new(
                    Type::Json(Kinds::ARRAY),
                    Repr::Cow(quote!(#rt::Cow::Owned(#rt::split(#op, #s)?))),
                )
            }
            "join" => {
                let s = self.str_arg(&a[0].repr);
                Typed::new(Type::STRING, Repr::Str(quote!(#rt::join(#op, #s)?)))
            }
            "keys" | "values" => {
                let f = format_ident!("{}", m);
                Typed::new(
                    Type::Json(Kinds::ARRAY),
                    Repr::Cow(quote!(#rt::Cow::Owned(#rt::#f(#op)?))),
                )
            }
            "first" | "last" => {
                let f = format_ident!("{}", m);
                let fv = format_ident!("{}_v", m);
                let repr = self.navigate(
                    &r.repr,
                    |t| quote!(#rt::#f(#t)?),
                    |t| quote!(#rt2::#fv(#t)?),
                );
                Typed::new(Type::ANY, repr)
            }
            "get" => {
                let x = self.operand(&a[0].repr);
                let repr = self.navigate(
                    &r.repr,
                    |t| quote!(#rt::get(#t, #x)?),
                    |t| quote!(#rt2::get_v(#t, #x)?),
                );
                Typed::new(Type::ANY, repr)
            }
            "to_string" => match &r.repr {
                Repr::Str(_) | Repr::StrLit(_) => Typed::new(Type::STRING, r.repr),
                _ => Typed::new(Type::STRING, Repr::Str(quote!(#rt::to_text(#op)))),
            },
            _ => Typed::new(Type::NUMBER, Repr::Num(quote!(#rt::to_number(#op)?))),
        }
    }

    fn format(&mut self, name: &Name, args: &[Expr]) -> Typed {
        let Some(first) = args.first() else {
            self.error(
                HF0314,
                name.sp,
                "`format!` needs a format string".to_owned(),
                "expected `format!(\"...{}...\", value)`".to_owned(),
            );
            return Typed::dead();
        };
        let ExprKind::Str(fmt) = &unparen(first).kind else {
            self.error(
                HF0314,
                first.sp,
                "the first argument of `format!` must be a string literal".to_owned(),
                "not a string literal".to_owned(),
            );
            return Typed::dead();
        };
        // Split into literal pieces and `{}` holes.
        let mut pieces: Vec<String> = vec![String::new()];
        let mut chars = fmt.char_indices().peekable();
        // The problem and its byte range in the (unescaped) format string.
        let mut bad: Option<(String, usize, usize)> = None;
        while let Some((at, c)) = chars.next() {
            let next = chars.peek().map(|(_, c)| *c);
            match (c, next) {
                ('{', Some('{')) | ('}', Some('}')) => {
                    chars.next();
                    if let Some(p) = pieces.last_mut() {
                        p.push(c);
                    }
                }
                ('{', Some('}')) => {
                    chars.next();
                    pieces.push(String::new());
                }
                ('{', _) => {
                    let close = fmt[at..].find('}').map_or(fmt.len(), |k| at + k + 1);
                    bad = Some((
                        format!(
                            "`{}` is not supported: only `{{}}` placeholders (and `{{{{`, `}}}}`)",
                            &fmt[at..close]
                        ),
                        at,
                        close,
                    ));
                    break;
                }
                ('}', _) => {
                    bad = Some((
                        "unmatched `}`: write `}}` for a literal `}`".to_owned(),
                        at,
                        at + 1,
                    ));
                    break;
                }
                _ => {
                    if let Some(p) = pieces.last_mut() {
                        p.push(c);
                    }
                }
            }
        }
        if let Some((msg, from, to)) = bad {
            // Point inside the literal when its source has no escapes (offsets then agree).
            let inner = first.sp.start + 1..first.sp.end.saturating_sub(1);
            let sp = if self.text.get(inner.clone()) == Some(fmt.as_str()) {
                Sp::new(inner.start + from, inner.start + to)
            } else {
                first.sp
            };
            self.error(HF0314, sp, "invalid format string".to_owned(), msg);
            return Typed::dead();
        }
        let holes = pieces.len() - 1;
        let values = &args[1..];
        let typed: Vec<Typed> = values.iter().map(|v| self.expr(v)).collect();
        if holes != values.len() {
            self.error(
                HF0307,
                name.sp,
                format!(
                    "`format!` has {holes} placeholder{} but {} argument{} given",
                    if holes == 1 { "" } else { "s" },
                    values.len(),
                    if values.len() == 1 { " was" } else { "s were" }
                ),
                format!(
                    "expected {holes} argument{} after the format string",
                    if holes == 1 { "" } else { "s" }
                ),
            );
            return Typed::dead();
        }
        if typed.iter().any(|t| t.ty == Type::Error) {
            return Typed::dead();
        }
        let buf = format_ident!("__s");
        let cap: usize = pieces.iter().map(String::len).sum::<usize>() + 8 * holes;
        let mut body = TokenStream::new();
        for (i, p) in pieces.iter().enumerate() {
            if !p.is_empty() {
                body.extend(quote!(#buf.push_str(#p);));
            }
            if let Some(t) = typed.get(i) {
                body.extend(self.push_text(&buf, &t.repr));
            }
        }
        let code = if body.is_empty() {
            quote!(::std::string::String::new())
        } else {
            quote!({
                let mut #buf = ::std::string::String::with_capacity(#cap);
                #body
                #buf
            })
        };
        Typed::new(Type::STRING, Repr::Str(code))
    }

    fn binary(&mut self, op: BinOp, op_sp: Sp, a: &Expr, b: &Expr) -> Typed {
        let rt = self.rt.clone();
        let ta = self.expr(a);
        let tb = self.expr(b);
        let (Some(ka), Some(kb)) = (ta.ty.kinds(), tb.ty.kinds()) else {
            return Typed::dead();
        };
        let sym = op.symbol();
        match op {
            BinOp::And | BinOp::Or => {
                for t in [&ta, &tb] {
                    if !t.ty.kinds().unwrap_or(Kinds::ANY).has(Kinds::BOOL) {
                        self.error(
                            HF0309,
                            op_sp,
                            format!("cannot apply `{sym}` to `{}` and `{}`", ta.ty, tb.ty),
                            format!("`{sym}` needs two bools, found `{}`", t.ty),
                        );
                        return Typed::dead();
                    }
                }
                let x = self.boolean(&ta.repr);
                let y = self.boolean(&tb.repr);
                let code = if op == BinOp::And {
                    quote!((#x && #y))
                } else {
                    quote!((#x || #y))
                };
                Typed::new(Type::BOOL, Repr::Bool(code))
            }
            BinOp::Eq | BinOp::Ne => {
                if ka.and(kb) == Kinds::NONE {
                    let d = self.error(
                        HF0308,
                        op_sp,
                        format!("cannot compare `{}` with `{}`", ta.ty, tb.ty),
                        format!("`{}` and `{}` have no value in common", ta.ty, tb.ty),
                    );
                    let text_vs_number = (ka.has(Kinds::STRING) && kb.has(Kinds::NUMBER))
                        || (ka.has(Kinds::NUMBER) && kb.has(Kinds::STRING));
                    if text_vs_number {
                        *d = d.clone().help(
                            "convert one side: `.to_number()` on the text, or compare with a string like '5'",
                        );
                    }
                    return Typed::dead();
                }
                let eq = self.eq_code(a, &ta, b, &tb);
                let code = if op == BinOp::Eq { eq } else { quote!((!#eq)) };
                Typed::new(Type::BOOL, Repr::Bool(code))
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let common = ka.and(kb).and(Kinds::NUMBER | Kinds::STRING);
                if common == Kinds::NONE {
                    self.error(
                        HF0308,
                        op_sp,
                        format!("cannot compare `{}` with `{}`", ta.ty, tb.ty),
                        format!(
                            "`{sym}` needs two numbers or two strings, found `{}` and `{}`",
                            ta.ty, tb.ty
                        ),
                    );
                    return Typed::dead();
                }
                let code = if ka.within(Kinds::NUMBER) && kb.within(Kinds::NUMBER) {
                    let x = self.number(&ta.repr);
                    let y = self.number(&tb.repr);
                    match op {
                        BinOp::Lt => quote!((#x < #y)),
                        BinOp::Le => quote!((#x <= #y)),
                        BinOp::Gt => quote!((#x > #y)),
                        _ => quote!((#x >= #y)),
                    }
                } else {
                    let x = self.operand(&ta.repr);
                    let y = self.operand(&tb.repr);
                    let m = format_ident!(
                        "{}",
                        match op {
                            BinOp::Lt => "is_lt",
                            BinOp::Le => "is_le",
                            BinOp::Gt => "is_gt",
                            _ => "is_ge",
                        }
                    );
                    quote!(#rt::compare(#x, #y)?.#m())
                };
                Typed::new(Type::BOOL, Repr::Bool(code))
            }
            BinOp::Add => {
                let common = ka.and(kb).and(Kinds::NUMBER | Kinds::STRING);
                if common == Kinds::NONE {
                    let d = self.error(
                        HF0309,
                        op_sp,
                        format!("cannot add `{}` and `{}`", ta.ty, tb.ty),
                        "`+` needs two numbers or two strings".to_owned(),
                    );
                    if ka.has(Kinds::STRING) || kb.has(Kinds::STRING) {
                        *d = d.clone().help(
                            "to build text from other values use `format!(\"{}{}\", a, b)` or `.to_string()`",
                        );
                    }
                    return Typed::dead();
                }
                // Only one kind can succeed: take its typed path (checked at run time).
                if common == Kinds::NUMBER {
                    let x = self.number(&ta.repr);
                    let y = self.number(&tb.repr);
                    return Typed::new(Type::NUMBER, Repr::Num(quote!((#x + #y))));
                }
                let x = self.operand(&ta.repr);
                let y = self.operand(&tb.repr);
                if common == Kinds::STRING {
                    return Typed::new(Type::STRING, Repr::Str(quote!(#rt::concat(#x, #y)?)));
                }
                Typed::new(
                    Type::Json(common),
                    Repr::Cow(quote!(#rt::Cow::Owned(#rt::add(#x, #y)?))),
                )
            }
            BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                if !ka.has(Kinds::NUMBER) || !kb.has(Kinds::NUMBER) {
                    self.error(
                        HF0309,
                        op_sp,
                        format!("cannot apply `{sym}` to `{}` and `{}`", ta.ty, tb.ty),
                        format!("`{sym}` needs two numbers"),
                    );
                    return Typed::dead();
                }
                let x = self.number(&ta.repr);
                let y = self.number(&tb.repr);
                let code = match op {
                    BinOp::Sub => quote!((#x - #y)),
                    BinOp::Mul => quote!((#x * #y)),
                    BinOp::Div => quote!(#rt::div(#x, #y)?),
                    _ => quote!(#rt::rem(#x, #y)?),
                };
                Typed::new(Type::NUMBER, Repr::Num(code))
            }
        }
    }

    /// `a == b` as a Rust `bool`, with fast paths for literals and typed operands.
    fn eq_code(&self, a: &Expr, ta: &Typed, b: &Expr, tb: &Typed) -> TokenStream {
        let rt = &self.rt;
        let is_null = |e: &Expr| matches!(unparen(e).kind, ExprKind::Null);
        match (&ta.repr, &tb.repr) {
            (Repr::Bool(x), Repr::Bool(y)) => quote!((#x == #y)),
            (Repr::Num(_) | Repr::NumLit(_), Repr::Num(_) | Repr::NumLit(_)) => {
                let x = self.number(&ta.repr);
                let y = self.number(&tb.repr);
                quote!(#rt::num_eq(#x, #y))
            }
            (_, Repr::StrLit(s)) => {
                let x = self.operand(&ta.repr);
                quote!(#rt::eq_str(#x, #s))
            }
            (Repr::StrLit(s), _) => {
                let y = self.operand(&tb.repr);
                quote!(#rt::eq_str(#y, #s))
            }
            (_, Repr::NumLit(n)) => {
                let x = self.operand(&ta.repr);
                quote!(#rt::eq_num(#x, #n))
            }
            (Repr::NumLit(n), _) => {
                let y = self.operand(&tb.repr);
                quote!(#rt::eq_num(#y, #n))
            }
            (_, Repr::Bool(y)) => {
                let x = self.operand(&ta.repr);
                quote!(#rt::eq_bool(#x, #y))
            }
            (Repr::Bool(x), _) => {
                let y = self.operand(&tb.repr);
                quote!(#rt::eq_bool(#y, #x))
            }
            _ if is_null(b) => {
                let x = self.operand(&ta.repr);
                quote!(#rt::is_null(#x))
            }
            _ if is_null(a) => {
                let y = self.operand(&tb.repr);
                quote!(#rt::is_null(#y))
            }
            _ => {
                let x = self.operand(&ta.repr);
                let y = self.operand(&tb.repr);
                quote!(#rt::eq(#x, #y))
            }
        }
    }

    /// Requires a condition to be boolean (or json, checked at run time).
    pub fn check_condition(&mut self, t: &Typed, sp: Sp, what: &str) -> bool {
        match t.ty.kinds() {
            None => false,
            Some(k) if k.has(Kinds::BOOL) => true,
            Some(_) => {
                let d = self.error(
                    HF0310,
                    sp,
                    format!("{what} must be a bool, found `{}`", t.ty),
                    format!("this is `{}`, not a bool", t.ty),
                );
                *d = d
                    .clone()
                    .help("compare it explicitly, e.g. `x == 'value'` or `x.len() > 0`");
                false
            }
        }
    }

    fn if_expr(&mut self, c: &Expr, then: &Block, otherwise: Option<&Block>) -> Typed {
        let rt = self.rt.clone();
        let tc = self.expr(c);
        let cond_ok = self.check_condition(&tc, c.sp, "an `if` condition");
        let (s1, t1) = self.block(then);
        let (s2, t2) = match otherwise {
            Some(b) => self.block(b),
            None => (TokenStream::new(), None),
        };
        let null = || Typed::new(Type::NULL, Repr::Ref(quote!(&#rt::NULL)));
        let t1 = t1.unwrap_or_else(null);
        let t2 = t2.unwrap_or_else(null);
        let ty = t1.ty.union(t2.ty);
        if !cond_ok || ty == Type::Error {
            return Typed::dead();
        }
        let cond = self.boolean(&tc.repr);
        let (repr_of, x, y): (fn(TokenStream) -> Repr, TokenStream, TokenStream) =
            match (&t1.repr, &t2.repr) {
                (Repr::Bool(x), Repr::Bool(y)) => (Repr::Bool, x.clone(), y.clone()),
                (Repr::Num(_) | Repr::NumLit(_), Repr::Num(_) | Repr::NumLit(_)) => {
                    (Repr::Num, self.number(&t1.repr), self.number(&t2.repr))
                }
                (Repr::Ref(x), Repr::Ref(y)) => (Repr::Ref, x.clone(), y.clone()),
                (Repr::Str(_) | Repr::StrLit(_), Repr::Str(_) | Repr::StrLit(_)) => {
                    let text = |r: &Repr| match r {
                        Repr::StrLit(s) => quote!(::std::string::String::from(#s)),
                        Repr::Str(t) => t.clone(),
                        _ => TokenStream::new(),
                    };
                    (Repr::Str, text(&t1.repr), text(&t2.repr))
                }
                _ => (Repr::Cow, self.cow(&t1.repr), self.cow(&t2.repr)),
            };
        let code = quote!(if #cond { #s1 #x } else { #s2 #y });
        Typed::new(ty, repr_of(code))
    }
}
