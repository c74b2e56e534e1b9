//! Static types of the flow language: a set of JSON kinds a value may have at run time (`json` is
//! all of them), or one of the records the runtime provides (`event`, `headers`, `nodes`,
//! `error`), whose fields are known at compile time.

use std::fmt;

/// A set of JSON kinds (bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kinds(pub u8);

impl Kinds {
    pub const STRING: Kinds = Kinds(1);
    pub const NUMBER: Kinds = Kinds(2);
    pub const BOOL: Kinds = Kinds(4);
    pub const NULL: Kinds = Kinds(8);
    pub const ARRAY: Kinds = Kinds(16);
    pub const OBJECT: Kinds = Kinds(32);
    pub const ANY: Kinds = Kinds(63);
    pub const NONE: Kinds = Kinds(0);

    pub fn has(self, k: Kinds) -> bool {
        self.0 & k.0 != 0
    }

    /// `self` is a subset of `k` (and not empty).
    pub fn within(self, k: Kinds) -> bool {
        self.0 != 0 && self.0 & !k.0 == 0
    }

    pub fn and(self, k: Kinds) -> Kinds {
        Kinds(self.0 & k.0)
    }

    pub fn or(self, k: Kinds) -> Kinds {
        Kinds(self.0 | k.0)
    }
}

impl std::ops::BitOr for Kinds {
    type Output = Kinds;
    fn bitor(self, rhs: Kinds) -> Kinds {
        self.or(rhs)
    }
}

impl fmt::Display for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Kinds::ANY {
            return f.write_str("json");
        }
        let names = [
            (Kinds::STRING, "string"),
            (Kinds::NUMBER, "number"),
            (Kinds::BOOL, "bool"),
            (Kinds::ARRAY, "array"),
            (Kinds::OBJECT, "object"),
            (Kinds::NULL, "null"),
        ];
        let mut first = true;
        for (k, n) in names {
            if self.has(k) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        if first {
            f.write_str("nothing")?;
        }
        Ok(())
    }
}

/// A value the runtime provides, with fields known at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Record {
    /// `event`: `payload`, `headers`, `tenant`, `event_type`, `delivery_id`.
    Event,
    /// `headers` / `event.headers`: `headers['name']`, case-insensitive, `string|null`.
    Headers,
    /// `nodes`: `nodes.<id>` is the output of node `<id>` (json, `null` before it ran).
    Nodes,
    /// `error` in `on_error` targets: `kind`, `message`, `node` (the id of the node that failed).
    Error,
}

impl Record {
    pub fn name(self) -> &'static str {
        match self {
            Record::Event => "event",
            Record::Headers => "headers",
            Record::Nodes => "nodes",
            Record::Error => "error",
        }
    }
}

/// Static type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// One of these JSON kinds at run time.
    Json(Kinds),
    /// A runtime record; used as a value it is an object.
    Record(Record),
    /// Unknown because of an error already reported: suppresses further errors.
    Error,
}

impl Type {
    pub const ANY: Type = Type::Json(Kinds::ANY);
    pub const STRING: Type = Type::Json(Kinds::STRING);
    pub const NUMBER: Type = Type::Json(Kinds::NUMBER);
    pub const BOOL: Type = Type::Json(Kinds::BOOL);
    pub const NULL: Type = Type::Json(Kinds::NULL);

    /// The JSON kinds a value of this type may have (`None` for [`Type::Error`]).
    pub fn kinds(self) -> Option<Kinds> {
        match self {
            Type::Json(k) => Some(k),
            Type::Record(_) => Some(Kinds::OBJECT),
            Type::Error => None,
        }
    }

    /// The type of a value that is either `self` or `other`.
    pub fn union(self, other: Type) -> Type {
        match (self, other) {
            (Type::Error, _) | (_, Type::Error) => Type::Error,
            (Type::Record(a), Type::Record(b)) if a == b => self,
            _ => match (self.kinds(), other.kinds()) {
                (Some(a), Some(b)) => Type::Json(a | b),
                _ => Type::Error,
            },
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Json(k) => k.fmt(f),
            Type::Record(r) => f.write_str(r.name()),
            Type::Error => f.write_str("{unknown}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_sets() {
        assert_eq!(
            Type::Json(Kinds::STRING | Kinds::NULL).to_string(),
            "string|null"
        );
        assert_eq!(Type::ANY.to_string(), "json");
        assert_eq!(Type::Record(Record::Event).to_string(), "event");
        assert!(Kinds::NUMBER.within(Kinds::NUMBER | Kinds::STRING));
        assert!(!Kinds::ANY.within(Kinds::NUMBER));
        assert_eq!(
            Type::STRING.union(Type::NULL),
            Type::Json(Kinds::STRING | Kinds::NULL)
        );
        assert_eq!(
            Type::Record(Record::Event).union(Type::NULL),
            Type::Json(Kinds::OBJECT | Kinds::NULL)
        );
    }
}
