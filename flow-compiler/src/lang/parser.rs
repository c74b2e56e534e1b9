//! Pratt parser of the flow language: scripts (`let` statements, then an output expression),
//! single expressions (conditions, template holes) and blocks.

use super::ast::{BinOp, Block, Expr, ExprKind, Name, Stmt, UnOp};
use super::lexer::{Sp, Tok, Token};

/// A syntax error: message, label and where.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub message: String,
    pub label: String,
    pub sp: Sp,
}

const KEYWORDS: [&str; 6] = ["let", "if", "else", "true", "false", "null"];

/// Binding power of the comparison operators; they do not chain.
const CMP_BP: u8 = 3;
const PREFIX_BP: u8 = 6;

pub struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

type PResult<T> = Result<T, ParseError>;

impl Parser {
    pub fn new(toks: Vec<Token>) -> Parser {
        Parser { toks, pos: 0 }
    }

    fn peek(&self) -> &Token {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[self.pos.min(last)]
    }

    fn peek_at(&self, k: usize) -> &Tok {
        let last = self.toks.len().saturating_sub(1);
        &self.toks[(self.pos + k).min(last)].tok
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn is(&self, p: &str) -> bool {
        matches!(&self.peek().tok, Tok::Punct(q) if *q == p)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s == kw)
    }

    fn unexpected(&self, expected: &str) -> ParseError {
        let t = self.peek();
        ParseError {
            message: format!("expected {expected}, found {}", t.tok.describe()),
            label: format!("expected {expected}"),
            sp: if t.tok == Tok::Eof {
                Sp::new(t.sp.start, t.sp.start + 1)
            } else {
                t.sp
            },
        }
    }

    fn expect(&mut self, p: &'static str) -> PResult<Sp> {
        if self.is(p) {
            Ok(self.bump().sp)
        } else {
            Err(self.unexpected(&format!("`{p}`")))
        }
    }

    fn name(&mut self, what: &str) -> PResult<Name> {
        match &self.peek().tok {
            Tok::Ident(s) if !KEYWORDS.contains(&s.as_str()) => {
                let t = self.bump();
                let Tok::Ident(text) = t.tok else {
                    return Err(self.unexpected(what));
                };
                Ok(Name { text, sp: t.sp })
            }
            _ => Err(self.unexpected(what)),
        }
    }

    /// Parses a whole script: `let` statements and expression statements, then an optional output
    /// expression, then the end.
    pub fn script(mut self) -> PResult<Block> {
        let start = self.peek().sp;
        let block = self.block_body(start, true)?;
        Ok(block)
    }

    /// Parses exactly one expression and the end of input.
    pub fn single_expr(mut self) -> PResult<Expr> {
        let e = self.expr(0)?;
        if self.peek().tok != Tok::Eof {
            return Err(self.unexpected("an operator or the end of the expression"));
        }
        Ok(e)
    }

    /// Statements up to `}` (or the end of input for a script).
    fn block_body(&mut self, start: Sp, top: bool) -> PResult<Block> {
        let mut stmts = Vec::new();
        loop {
            let at_end = if top {
                self.peek().tok == Tok::Eof
            } else {
                self.is("}")
            };
            if at_end {
                let sp = start.to(self.peek().sp);
                return Ok(Block {
                    stmts,
                    tail: None,
                    sp,
                });
            }
            if self.is(";") {
                self.bump();
                continue;
            }
            if self.is_kw("let") {
                self.bump();
                let name = self.name("a variable name")?;
                self.expect("=")?;
                let value = self.expr(0)?;
                self.expect(";")?;
                stmts.push(Stmt::Let(name, value));
                continue;
            }
            let e = self.expr(0)?;
            if self.is(";") {
                self.bump();
                stmts.push(Stmt::Expr(e));
                continue;
            }
            let done = if top {
                self.peek().tok == Tok::Eof
            } else {
                self.is("}")
            };
            if !done {
                let what = if top {
                    "`;` or the end of the script"
                } else {
                    "`;` or `}`"
                };
                return Err(self.unexpected(what));
            }
            let sp = start.to(e.sp);
            return Ok(Block {
                stmts,
                tail: Some(Box::new(e)),
                sp,
            });
        }
    }

    fn braced_block(&mut self) -> PResult<Block> {
        let open = self.expect("{")?;
        let mut b = self.block_body(open, false)?;
        let close = self.expect("}")?;
        b.sp = open.to(close);
        Ok(b)
    }

    /// Pratt loop: parses an expression whose operators bind tighter than `min_bp`.
    pub fn expr(&mut self, min_bp: u8) -> PResult<Expr> {
        let mut lhs = self.prefix()?;
        while let Some((op, bp)) = self.infix_op() {
            if bp <= min_bp {
                break;
            }
            let op_sp = self.bump().sp;
            let rhs = self.expr(bp)?;
            if bp == CMP_BP && self.infix_op().is_some_and(|(_, b)| b == CMP_BP) {
                let t = self.peek().sp;
                return Err(ParseError {
                    message: "comparison operators cannot be chained".to_owned(),
                    label: "use `&&` and parentheses to combine comparisons".to_owned(),
                    sp: t,
                });
            }
            let sp = lhs.sp.to(rhs.sp);
            lhs = Expr {
                kind: ExprKind::Binary(op, op_sp, Box::new(lhs), Box::new(rhs)),
                sp,
            };
        }
        Ok(lhs)
    }

    fn infix_op(&self) -> Option<(BinOp, u8)> {
        let Tok::Punct(p) = &self.peek().tok else {
            return None;
        };
        Some(match *p {
            "||" => (BinOp::Or, 1),
            "&&" => (BinOp::And, 2),
            "==" => (BinOp::Eq, CMP_BP),
            "!=" => (BinOp::Ne, CMP_BP),
            "<" => (BinOp::Lt, CMP_BP),
            "<=" => (BinOp::Le, CMP_BP),
            ">" => (BinOp::Gt, CMP_BP),
            ">=" => (BinOp::Ge, CMP_BP),
            "+" => (BinOp::Add, 4),
            "-" => (BinOp::Sub, 4),
            "*" => (BinOp::Mul, 5),
            "/" => (BinOp::Div, 5),
            "%" => (BinOp::Rem, 5),
            _ => return None,
        })
    }

    fn prefix(&mut self) -> PResult<Expr> {
        let t = self.peek().clone();
        let e = match &t.tok {
            Tok::Punct("!") | Tok::Punct("-") => {
                self.bump();
                let op = if t.tok == Tok::Punct("!") {
                    UnOp::Not
                } else {
                    UnOp::Neg
                };
                let operand = self.expr(PREFIX_BP)?;
                let sp = t.sp.to(operand.sp);
                return Ok(Expr {
                    kind: ExprKind::Unary(op, t.sp, Box::new(operand)),
                    sp,
                });
            }
            Tok::Num(n) => {
                self.bump();
                Expr {
                    kind: ExprKind::Num(*n),
                    sp: t.sp,
                }
            }
            Tok::Str(s) => {
                self.bump();
                Expr {
                    kind: ExprKind::Str(s.clone()),
                    sp: t.sp,
                }
            }
            Tok::Punct("(") => {
                self.bump();
                let inner = self.expr(0)?;
                let close = self.expect(")")?;
                Expr {
                    kind: ExprKind::Paren(Box::new(inner)),
                    sp: t.sp.to(close),
                }
            }
            Tok::Punct("[") => {
                self.bump();
                let (items, close) = self.list("]")?;
                Expr {
                    kind: ExprKind::Array(items),
                    sp: t.sp.to(close),
                }
            }
            Tok::Punct("{") => self.object()?,
            Tok::Ident(s) => match s.as_str() {
                "true" | "false" => {
                    self.bump();
                    Expr {
                        kind: ExprKind::Bool(s == "true"),
                        sp: t.sp,
                    }
                }
                "null" => {
                    self.bump();
                    Expr {
                        kind: ExprKind::Null,
                        sp: t.sp,
                    }
                }
                "if" => self.if_expr()?,
                "let" => {
                    return Err(ParseError {
                        message: "`let` is a statement, not an expression".to_owned(),
                        label: "`let` must come before the script's output expression".to_owned(),
                        sp: t.sp,
                    })
                }
                "else" => return Err(self.unexpected("an expression")),
                _ => {
                    let name = self.name("an expression")?;
                    if self.is("!") && matches!(self.peek_at(1), Tok::Punct("(")) {
                        self.bump();
                        self.bump();
                        let (args, close) = self.list(")")?;
                        Expr {
                            sp: name.sp.to(close),
                            kind: ExprKind::Macro(name, args),
                        }
                    } else if self.is("(") {
                        self.bump();
                        let (args, close) = self.list(")")?;
                        Expr {
                            sp: name.sp.to(close),
                            kind: ExprKind::Call(name, args),
                        }
                    } else {
                        Expr {
                            sp: name.sp,
                            kind: ExprKind::Var(name),
                        }
                    }
                }
            },
            _ => return Err(self.unexpected("an expression")),
        };
        self.postfix(e)
    }

    fn postfix(&mut self, mut e: Expr) -> PResult<Expr> {
        loop {
            if self.is(".") {
                self.bump();
                let name = match self.peek().tok.clone() {
                    // `event.payload.0`: an index written as a field.
                    Tok::Num(n) if n.fract() == 0.0 => {
                        let t = self.bump();
                        let ix = Expr {
                            kind: ExprKind::Num(n),
                            sp: t.sp,
                        };
                        let sp = e.sp.to(t.sp);
                        e = Expr {
                            kind: ExprKind::Index(Box::new(e), Box::new(ix)),
                            sp,
                        };
                        continue;
                    }
                    // Field names may be keywords (`payload.if`) and `type` etc.
                    Tok::Ident(_) => {
                        let t = self.bump();
                        let Tok::Ident(text) = t.tok else {
                            return Err(self.unexpected("a field or method name"));
                        };
                        Name { text, sp: t.sp }
                    }
                    _ => return Err(self.unexpected("a field or method name")),
                };
                if self.is("(") {
                    self.bump();
                    let (args, close) = self.list(")")?;
                    let sp = e.sp.to(close);
                    e = Expr {
                        kind: ExprKind::Method(Box::new(e), name, args),
                        sp,
                    };
                } else {
                    let sp = e.sp.to(name.sp);
                    e = Expr {
                        kind: ExprKind::Field(Box::new(e), name),
                        sp,
                    };
                }
            } else if self.is("[") {
                self.bump();
                let ix = self.expr(0)?;
                let close = self.expect("]")?;
                let sp = e.sp.to(close);
                e = Expr {
                    kind: ExprKind::Index(Box::new(e), Box::new(ix)),
                    sp,
                };
            } else {
                return Ok(e);
            }
        }
    }

    /// Comma-separated expressions up to `close` (a trailing comma is allowed).
    fn list(&mut self, close: &'static str) -> PResult<(Vec<Expr>, Sp)> {
        let mut items = Vec::new();
        loop {
            if self.is(close) {
                return Ok((items, self.bump().sp));
            }
            items.push(self.expr(0)?);
            if self.is(",") {
                self.bump();
            } else if !self.is(close) {
                return Err(self.unexpected(&format!("`,` or `{close}`")));
            }
        }
    }

    fn object(&mut self) -> PResult<Expr> {
        let open = self.expect("{")?;
        let mut entries = Vec::new();
        loop {
            if self.is("}") {
                let close = self.bump().sp;
                return Ok(Expr {
                    kind: ExprKind::Object(entries),
                    sp: open.to(close),
                });
            }
            let t = self.peek().clone();
            let key = match t.tok {
                Tok::Ident(text) | Tok::Str(text) => {
                    self.bump();
                    Name { text, sp: t.sp }
                }
                _ => return Err(self.unexpected("an object key (a name or a string)")),
            };
            self.expect(":")?;
            let value = self.expr(0)?;
            entries.push((key, value));
            if self.is(",") {
                self.bump();
            } else if !self.is("}") {
                return Err(self.unexpected("`,` or `}`"));
            }
        }
    }

    fn if_expr(&mut self) -> PResult<Expr> {
        let kw = self.bump().sp;
        if self.is("{") {
            return Err(self.unexpected("a condition"));
        }
        let cond = self.expr(0)?;
        let then = self.braced_block()?;
        let mut sp = kw.to(then.sp);
        let otherwise = if self.is_kw("else") {
            self.bump();
            let b = if self.is_kw("if") {
                let nested = self.if_expr()?;
                Block {
                    sp: nested.sp,
                    stmts: Vec::new(),
                    tail: Some(Box::new(nested)),
                }
            } else {
                self.braced_block()?
            };
            sp = sp.to(b.sp);
            Some(b)
        } else {
            None
        };
        Ok(Expr {
            kind: ExprKind::If(Box::new(cond), then, otherwise),
            sp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::*;

    fn script(s: &str) -> PResult<Block> {
        let toks = lex(s, 0, s.len()).map_err(|e| ParseError {
            message: e.message,
            label: e.label,
            sp: e.sp,
        })?;
        Parser::new(toks).script()
    }

    fn expr(s: &str) -> PResult<Expr> {
        let toks = lex(s, 0, s.len()).map_err(|e| ParseError {
            message: e.message,
            label: e.label,
            sp: e.sp,
        })?;
        Parser::new(toks).single_expr()
    }

    /// Renders the tree as s-expressions to check precedence.
    fn sx(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Null => "null".into(),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Num(n) => n.to_string(),
            ExprKind::Str(s) => format!("{s:?}"),
            ExprKind::Array(v) => format!("[{}]", v.iter().map(sx).collect::<Vec<_>>().join(" ")),
            ExprKind::Object(v) => format!(
                "{{{}}}",
                v.iter()
                    .map(|(k, e)| format!("{}:{}", k.text, sx(e)))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            ExprKind::Var(n) => n.text.clone(),
            ExprKind::Field(b, n) => format!("(. {} {})", sx(b), n.text),
            ExprKind::Index(b, i) => format!("([] {} {})", sx(b), sx(i)),
            ExprKind::Method(b, n, a) => format!(
                "(.{} {}{})",
                n.text,
                sx(b),
                a.iter().map(|a| format!(" {}", sx(a))).collect::<String>()
            ),
            ExprKind::Call(n, a) | ExprKind::Macro(n, a) => format!(
                "({}{})",
                n.text,
                a.iter().map(|a| format!(" {}", sx(a))).collect::<String>()
            ),
            ExprKind::Unary(op, _, x) => format!("({op:?} {})", sx(x)),
            ExprKind::Binary(op, _, a, b) => format!("({} {} {})", op.symbol(), sx(a), sx(b)),
            ExprKind::If(c, t, e) => format!(
                "(if {} {}{})",
                sx(c),
                t.tail.as_deref().map(sx).unwrap_or_default(),
                e.as_ref()
                    .and_then(|b| b.tail.as_deref())
                    .map(|x| format!(" {}", sx(x)))
                    .unwrap_or_default()
            ),
            ExprKind::Paren(x) => sx(x),
        }
    }

    fn ok(s: &str) -> String {
        match expr(s) {
            Ok(e) => sx(&e),
            Err(e) => format!("ERR {}", e.message),
        }
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(ok("1 + 2 * 3 - 4"), "(- (+ 1 (* 2 3)) 4)");
        assert_eq!(ok("a || b && !c"), "(|| a (&& b (Not c)))");
        assert_eq!(ok("-a.b + 1 == 2"), "(== (+ (Neg (. a b)) 1) 2)");
        assert_eq!(
            ok("headers['x-github-event'] == 'push'"),
            "(== ([] headers \"x-github-event\") \"push\")"
        );
        assert_eq!(
            ok("event.payload.type == 'payment_intent.succeeded'"),
            "(== (. (. event payload) type) \"payment_intent.succeeded\")"
        );
        assert_eq!(ok("a.b(1, 2,).c[0]"), "([] (. (.b a 1 2) c) 0)");
        assert_eq!(ok("format!(\"{}\", x.len())"), "(format \"{}\" (.len x))");
        assert_eq!(ok("{a: 1, \"b c\": [1, null]}"), "{a:1 b c:[1 null]}");
        assert_eq!(
            ok("if a { 1 } else if b { 2 } else { 3 }"),
            "(if a 1 (if b 2 3))"
        );
        assert_eq!(ok("(1 + 2) * 3"), "(* (+ 1 2) 3)");
        assert_eq!(ok("x.0.y"), "(. ([] x 0) y)");
    }

    #[test]
    fn scripts_from_the_seed() {
        let b = script("let data = event.payload;\n// process the webhook data\ndata\n");
        let b = b.map_err(|e| e.message);
        assert!(matches!(&b, Ok(b) if b.stmts.len() == 1 && b.tail.is_some()));
        let b = script(
            "let commits = event.payload.commits; format!(\"Received {} commits\", commits.len())",
        );
        assert!(matches!(&b, Ok(b) if b.stmts.len() == 1 && b.tail.is_some()));
        let b = script("let x = 1;");
        assert!(matches!(&b, Ok(b) if b.tail.is_none()));
    }

    #[test]
    fn syntax_errors_point_at_the_token() {
        let e = expr("a == b == c").err();
        assert_eq!(e.map(|e| e.sp), Some(Sp::new(7, 9)));
        let e = expr("a +").err();
        assert_eq!(
            e.map(|e| (e.sp, e.message)),
            Some((
                Sp::new(3, 4),
                "expected an expression, found the end of the expression".to_owned()
            ))
        );
        let e = expr("a b").err();
        assert_eq!(e.map(|e| e.sp), Some(Sp::new(2, 3)));
        let e = script("let = 1; x").err();
        assert_eq!(e.map(|e| e.sp), Some(Sp::new(4, 5)));
        let e = script("let a = 1 a").err();
        assert_eq!(e.map(|e| e.sp), Some(Sp::new(10, 11)));
        assert!(expr("(1").is_err());
        assert!(expr("[1 2]").is_err());
        assert!(expr("if { 1 }").is_err());
    }
}
