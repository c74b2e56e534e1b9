//! Syntax tree of the flow language. Every node keeps the byte span of its source so the checker
//! can point at the exact token.

use super::lexer::Sp;

/// An identifier with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    pub text: String,
    pub sp: Sp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub sp: Sp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Array(Vec<Expr>),
    /// `{key: value, "key": value}`; each key with its span.
    Object(Vec<(Name, Expr)>),
    Var(Name),
    Field(Box<Expr>, Name),
    Index(Box<Expr>, Box<Expr>),
    Method(Box<Expr>, Name, Vec<Expr>),
    /// `name(args)`: the language has no plain functions, kept to report a precise error.
    Call(Name, Vec<Expr>),
    /// `name!(args)`: `format!` is the only macro.
    Macro(Name, Vec<Expr>),
    Unary(UnOp, Sp, Box<Expr>),
    /// Operator, the operator's span, operands.
    Binary(BinOp, Sp, Box<Expr>, Box<Expr>),
    /// `if c { .. } else ..`; `else if` is an `else` block whose tail is another `If`.
    If(Box<Expr>, Block, Option<Block>),
    Paren(Box<Expr>),
}

/// `{ let a = ..; let b = ..; tail }`; a script is a block without braces.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub tail: Option<Box<Expr>>,
    pub sp: Sp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Let(Name, Expr),
    /// An expression followed by `;`: evaluated (it may fail), its value dropped.
    Expr(Expr),
}
