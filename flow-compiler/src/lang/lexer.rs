//! Lexer of the flow language: turns a slice of a YAML scalar into tokens with byte spans (offsets
//! into the whole scalar, so a template's embedded expressions point at the right column).

/// A byte range `start..end` into the scalar's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sp {
    pub start: usize,
    pub end: usize,
}

impl Sp {
    pub fn new(start: usize, end: usize) -> Sp {
        Sp { start, end }
    }

    /// The span covering both.
    pub fn to(self, other: Sp) -> Sp {
        Sp::new(self.start.min(other.start), self.end.max(other.end))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    /// Operators and punctuation: `. , ; : ( ) [ ] { } + - * / % ! == != < <= > >= && || =`.
    Punct(&'static str),
    Eof,
}

impl Tok {
    /// How the token is named in "expected X, found Y" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Num(_) => "a number".to_owned(),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "the end of the expression".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub sp: Sp,
}

/// A lexical error: message, label and where.
#[derive(Debug, Clone, PartialEq)]
pub struct LexError {
    pub message: String,
    pub label: String,
    pub sp: Sp,
}

const PUNCTS: [&str; 25] = [
    "==", "!=", "<=", ">=", "&&", "||", ".", ",", ";", ":", "(", ")", "[", "]", "{", "}", "+", "-",
    "*", "/", "%", "!", "<", ">", "=",
];

/// Lexes `text[start..end]`; spans are offsets into `text`.
pub fn lex(text: &str, start: usize, end: usize) -> Result<Vec<Token>, LexError> {
    let bytes = text.as_bytes();
    let mut i = start;
    let mut out = Vec::new();
    while i < end {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && i + 1 < end && bytes[i + 1] == b'/' {
            while i < end && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && i + 1 < end && bytes[i + 1] == b'*' {
            let open = i;
            i += 2;
            loop {
                if i + 1 >= end {
                    return Err(LexError {
                        message: "unterminated block comment".to_owned(),
                        label: "this `/*` is never closed with `*/`".to_owned(),
                        sp: Sp::new(open, open + 2),
                    });
                }
                if bytes[i] == b'*' && bytes[i + 1] == b'/' {
                    i += 2;
                    break;
                }
                i += 1;
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let s = i;
            while i < end && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(text[s..i].to_owned()),
                sp: Sp::new(s, i),
            });
            continue;
        }
        if c.is_ascii_digit() {
            let s = i;
            while i < end && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < end && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < end && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            if i < end && (bytes[i] == b'e' || bytes[i] == b'E') {
                let mut j = i + 1;
                if j < end && (bytes[j] == b'+' || bytes[j] == b'-') {
                    j += 1;
                }
                if j < end && bytes[j].is_ascii_digit() {
                    while j < end && bytes[j].is_ascii_digit() {
                        j += 1;
                    }
                    i = j;
                }
            }
            let sp = Sp::new(s, i);
            match text[s..i].parse::<f64>() {
                Ok(n) if n.is_finite() => out.push(Token {
                    tok: Tok::Num(n),
                    sp,
                }),
                _ => {
                    return Err(LexError {
                        message: "number literal out of range".to_owned(),
                        label: "not a finite number".to_owned(),
                        sp,
                    })
                }
            }
            continue;
        }
        if c == b'"' || c == b'\'' {
            let (s, next) = lex_string(text, i, end)?;
            out.push(Token {
                tok: Tok::Str(s),
                sp: Sp::new(i, next),
            });
            i = next;
            continue;
        }
        if let Some(p) = PUNCTS.iter().find(|p| text[i..end].starts_with(**p)) {
            out.push(Token {
                tok: Tok::Punct(p),
                sp: Sp::new(i, i + p.len()),
            });
            i += p.len();
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or('?');
        let w = ch.len_utf8();
        let (message, label) = match ch {
            '&' => (
                "unexpected `&`".to_owned(),
                "use `&&` for logical and".to_owned(),
            ),
            '|' => (
                "unexpected `|`".to_owned(),
                "use `||` for logical or".to_owned(),
            ),
            '`' => (
                "unexpected backtick".to_owned(),
                "strings use single or double quotes".to_owned(),
            ),
            _ => (
                format!("unexpected character `{ch}`"),
                "not part of the flow language".to_owned(),
            ),
        };
        return Err(LexError {
            message,
            label,
            sp: Sp::new(i, i + w),
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        sp: Sp::new(end, end),
    });
    Ok(out)
}

/// Lexes a quoted string starting at `open` (the quote); returns the value and the offset after
/// the closing quote.
fn lex_string(text: &str, open: usize, end: usize) -> Result<(String, usize), LexError> {
    let quote = text.as_bytes()[open] as char;
    let mut out = String::new();
    let mut chars = text[open + 1..end].char_indices();
    while let Some((k, c)) = chars.next() {
        let at = open + 1 + k;
        if c == quote {
            return Ok((out, at + 1));
        }
        if c == '\\' {
            let Some((_, e)) = chars.next() else { break };
            let bad = |len: usize| LexError {
                message: format!("unknown escape `\\{e}`"),
                label: "valid escapes: \\n \\t \\r \\0 \\\\ \\' \\\" \\/ \\u{..}".to_owned(),
                sp: Sp::new(at, (at + 1 + len).min(end)),
            };
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                '\\' => out.push('\\'),
                '\'' => out.push('\''),
                '"' => out.push('"'),
                '/' => out.push('/'),
                'u' => {
                    let rest = &text[at + 2..end];
                    let close = rest.find('}');
                    let ok = rest.starts_with('{')
                        && close.is_some_and(|c| {
                            u32::from_str_radix(&rest[1..c], 16)
                                .ok()
                                .and_then(char::from_u32)
                                .map(|ch| out.push(ch))
                                .is_some()
                        });
                    if !ok {
                        return Err(LexError {
                            message: "invalid unicode escape".to_owned(),
                            label: "expected `\\u{XXXX}` with 1 to 6 hex digits".to_owned(),
                            sp: Sp::new(at, at + 2),
                        });
                    }
                    let skip = close.unwrap_or(0) + 1;
                    for _ in 0..rest[..skip].chars().count() {
                        chars.next();
                    }
                }
                _ => return Err(bad(e.len_utf8())),
            }
            continue;
        }
        out.push(c);
    }
    Err(LexError {
        message: "unterminated string".to_owned(),
        label: format!("this string is never closed with `{quote}`"),
        sp: Sp::new(open, open + 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s, 0, s.len())
            .map(|v| v.into_iter().map(|t| t.tok).collect())
            .unwrap_or_default()
    }

    #[test]
    fn lexes_seed_condition_with_spans() {
        let s = "headers['x-github-event'] == 'push'";
        let t = lex(s, 0, s.len()).unwrap_or_default();
        assert_eq!(t[0].tok, Tok::Ident("headers".into()));
        assert_eq!(t[2].tok, Tok::Str("x-github-event".into()));
        assert_eq!(t[2].sp, Sp::new(8, 24));
        assert_eq!(t[4].tok, Tok::Punct("=="));
        assert_eq!(t[4].sp, Sp::new(26, 28));
        assert_eq!(t[5].tok, Tok::Str("push".into()));
        assert_eq!(t[6].tok, Tok::Eof);
    }

    #[test]
    fn comments_numbers_escapes() {
        assert_eq!(
            toks("1 // x\n 2.5 /* y */ 3e2 \"a\\n\\u{41}\" 'it\\'s'"),
            vec![
                Tok::Num(1.0),
                Tok::Num(2.5),
                Tok::Num(300.0),
                Tok::Str("a\nA".into()),
                Tok::Str("it's".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("a.len() <= 1 && !b || c != d"),
            vec![
                Tok::Ident("a".into()),
                Tok::Punct("."),
                Tok::Ident("len".into()),
                Tok::Punct("("),
                Tok::Punct(")"),
                Tok::Punct("<="),
                Tok::Num(1.0),
                Tok::Punct("&&"),
                Tok::Punct("!"),
                Tok::Ident("b".into()),
                Tok::Punct("||"),
                Tok::Ident("c".into()),
                Tok::Punct("!="),
                Tok::Ident("d".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn lex_errors_point_at_the_problem() {
        let e = lex("'abc", 0, 4).err();
        assert_eq!(e.map(|e| e.sp), Some(Sp::new(0, 1)));
        let e = lex("a # b", 0, 5).err();
        assert_eq!(e.map(|e| e.sp), Some(Sp::new(2, 3)));
        let e = lex("'\\q'", 0, 4).err();
        assert_eq!(e.map(|e| e.sp), Some(Sp::new(1, 3)));
        assert!(lex("/* x", 0, 4).is_err());
        assert!(lex("1e999", 0, 5).is_err());
    }
}
