//! Value operations of the flow language (field access, indexing, operators, methods,
//! `format!`, templates), each a non-generic function that returns an `EvalError` instead of
//! panicking. Owned by the language work: see `flow-compiler/src/lang` and
//! `docs/flows.md` (language section) for the semantics.
//!
//! Paths into the delivery stay borrowed (`field`, `at`, `index`, `header`, `first` take and
//! return `&Value`); the `_v` variants take and return a [`V`] so that a computed value can be
//! navigated without copying what is borrowed. Numbers are computed as `f64`; a result with no
//! fractional part becomes a JSON integer (`3`, not `3.0`).

use super::{Ctx, EvalError, Event, Headers, Map, NodeIx, Value, V};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::Write as _;

/// `null`, for paths that lead nowhere.
pub static NULL: Value = Value::Null;

/// The largest integer an `f64` holds exactly.
const MAX_SAFE: f64 = 9_007_199_254_740_992.0;

/// "a string", "an object", ... for error messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cold]
#[inline(never)]
fn fail(msg: String) -> EvalError {
    EvalError::new(msg)
}

/// A copy of a borrowed value.
#[inline(never)]
pub fn own(v: &Value) -> Value {
    v.clone()
}

// ------------------------------------------------------------------------- literals and numbers

/// A number computed by a flow as a JSON value; integral results become integers.
pub fn num_value(x: f64) -> Result<Value, EvalError> {
    if x.fract() == 0.0 && x.abs() < MAX_SAFE {
        return Ok(Value::from(x as i64));
    }
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .ok_or_else(|| fail(format!("the result {x} is not a finite number")))
}

/// A number literal (always finite: the compiler checked).
pub fn num_lit(x: f64) -> Value {
    num_value(x).unwrap_or(Value::Null)
}

/// A string literal.
#[inline(never)]
pub fn str_lit(s: &str) -> Value {
    Value::String(s.to_owned())
}

// ------------------------------------------------------------------------- records

/// `event` used as a value: `{tenant, event_type, delivery_id, headers, payload}`.
#[inline(never)]
pub fn event_value(e: &Event) -> Value {
    let mut m = Map::new();
    m.insert("tenant".to_owned(), e.tenant.clone());
    m.insert("event_type".to_owned(), e.event_type.clone());
    m.insert("delivery_id".to_owned(), e.delivery_id.clone());
    m.insert("headers".to_owned(), e.headers.to_json());
    m.insert("payload".to_owned(), e.payload.clone());
    Value::Object(m)
}

/// `headers` used as a value: an object of lower-case names.
#[inline(never)]
pub fn headers_value(h: &Headers) -> Value {
    h.to_json()
}

/// `nodes` used as a value: an object of the outputs of the nodes in scope.
#[inline(never)]
pub fn nodes_value(outputs: &[Value], names: &[(&str, NodeIx)]) -> Value {
    let mut m = Map::new();
    for (name, ix) in names {
        let v = outputs
            .get(usize::from(*ix))
            .cloned()
            .unwrap_or(Value::Null);
        m.insert((*name).to_owned(), v);
    }
    Value::Object(m)
}

/// `nodes.<id>`: the output of node `ix` (`null` before it ran).
#[inline]
pub fn output(ctx: &Ctx, ix: NodeIx) -> &Value {
    ctx.outputs.get(usize::from(ix)).unwrap_or(&NULL)
}

/// `headers['name']` with a name already lower-cased by the compiler; `null` if absent.
#[inline]
pub fn header<'a>(h: &'a Headers, lower: &str) -> &'a Value {
    h.get_lower(lower).unwrap_or(&NULL)
}

/// `headers[expr]`: case-insensitive lookup by a computed name.
pub fn header_dyn<'a>(h: &'a Headers, name: &Value) -> Result<&'a Value, EvalError> {
    match name {
        Value::String(s) => Ok(h.get(s).unwrap_or(&NULL)),
        other => Err(fail(format!(
            "headers are looked up by a string name, not by {}",
            kind_of(other)
        ))),
    }
}

// ------------------------------------------------------------------------- navigation

/// Objects up to this many keys are searched by comparing keys rather than by hashing: the keys
/// of a small object are compared (length first) in fewer instructions than the name is hashed
/// (see BENCHMARKS.md, history).
const LINEAR_LOOKUP_MAX: usize = 32;

/// `m[name]` of an object, `None` if missing.
#[inline]
fn lookup<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if m.len() <= LINEAR_LOOKUP_MAX {
        m.iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v)
    } else {
        m.get(name)
    }
}

/// `v.name`: the field of an object (`null` if missing); `null.name` is `null`.
#[inline(never)]
pub fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, EvalError> {
    match v {
        Value::Object(m) => Ok(lookup(m, name).unwrap_or(&NULL)),
        Value::Null => Ok(&NULL),
        other => Err(fail(format!(
            "cannot read field `{name}` of {}",
            kind_of(other)
        ))),
    }
}

/// [`field`] of a computed value.
pub fn field_v<'a>(v: V<'a>, name: &str) -> Result<V<'a>, EvalError> {
    match v {
        Cow::Borrowed(b) => field(b, name).map(Cow::Borrowed),
        Cow::Owned(Value::Object(mut m)) => Ok(Cow::Owned(m.remove(name).unwrap_or(Value::Null))),
        Cow::Owned(o) => field(&o, name).map(|x| Cow::Owned(x.clone())),
    }
}

fn array_slot(len: usize, ix: f64) -> Result<Option<usize>, EvalError> {
    if ix.fract() != 0.0 {
        return Err(fail(format!("array index {ix} is not an integer")));
    }
    let i = if ix < 0.0 { len as f64 + ix } else { ix };
    Ok(if i >= 0.0 && i < len as f64 {
        Some(i as usize)
    } else {
        None
    })
}

/// `v[n]` with a number: array element (negative counts from the end), `null` when out of range.
#[inline(never)]
pub fn at(v: &Value, ix: f64) -> Result<&Value, EvalError> {
    match v {
        Value::Array(a) => Ok(array_slot(a.len(), ix)?
            .and_then(|i| a.get(i))
            .unwrap_or(&NULL)),
        Value::Null => Ok(&NULL),
        other => Err(fail(format!(
            "cannot index {} with a number",
            kind_of(other)
        ))),
    }
}

/// [`at`] of a computed value.
pub fn at_v(v: V<'_>, ix: f64) -> Result<V<'_>, EvalError> {
    match v {
        Cow::Borrowed(b) => at(b, ix).map(Cow::Borrowed),
        Cow::Owned(o) => at(&o, ix).map(|x| Cow::Owned(x.clone())),
    }
}

/// `v[ix]` with a computed index: a number for arrays, a string for objects.
#[inline(never)]
pub fn index<'a>(v: &'a Value, ix: &Value) -> Result<&'a Value, EvalError> {
    match ix {
        Value::String(s) => match v {
            Value::Object(_) | Value::Null => field(v, s),
            other => Err(fail(format!(
                "cannot index {} with a string",
                kind_of(other)
            ))),
        },
        Value::Number(n) => at(v, n.as_f64().unwrap_or(f64::NAN)),
        other => Err(fail(format!("cannot use {} as an index", kind_of(other)))),
    }
}

/// [`index`] of a computed value.
pub fn index_v<'a>(v: V<'a>, ix: &Value) -> Result<V<'a>, EvalError> {
    match v {
        Cow::Borrowed(b) => index(b, ix).map(Cow::Borrowed),
        Cow::Owned(o) => index(&o, ix).map(|x| Cow::Owned(x.clone())),
    }
}

/// `v.get(k)`: like `v[k]`, on arrays and objects.
pub fn get<'a>(v: &'a Value, k: &Value) -> Result<&'a Value, EvalError> {
    match v {
        Value::Array(_) | Value::Object(_) | Value::Null => index(v, k),
        other => Err(fail(format!("cannot call `get` on {}", kind_of(other)))),
    }
}

/// [`get`] of a computed value.
pub fn get_v<'a>(v: V<'a>, k: &Value) -> Result<V<'a>, EvalError> {
    match v {
        Cow::Borrowed(b) => get(b, k).map(Cow::Borrowed),
        Cow::Owned(o) => get(&o, k).map(|x| Cow::Owned(x.clone())),
    }
}

/// `a.first()`: the first element, `null` if empty.
pub fn first(v: &Value) -> Result<&Value, EvalError> {
    match v {
        Value::Array(a) => Ok(a.first().unwrap_or(&NULL)),
        other => Err(fail(format!("cannot call `first` on {}", kind_of(other)))),
    }
}

/// [`first`] of a computed value.
pub fn first_v(v: V<'_>) -> Result<V<'_>, EvalError> {
    match v {
        Cow::Borrowed(b) => first(b).map(Cow::Borrowed),
        Cow::Owned(o) => first(&o).map(|x| Cow::Owned(x.clone())),
    }
}

/// `a.last()`: the last element, `null` if empty.
pub fn last(v: &Value) -> Result<&Value, EvalError> {
    match v {
        Value::Array(a) => Ok(a.last().unwrap_or(&NULL)),
        other => Err(fail(format!("cannot call `last` on {}", kind_of(other)))),
    }
}

/// [`last`] of a computed value.
pub fn last_v(v: V<'_>) -> Result<V<'_>, EvalError> {
    match v {
        Cow::Borrowed(b) => last(b).map(Cow::Borrowed),
        Cow::Owned(o) => last(&o).map(|x| Cow::Owned(x.clone())),
    }
}

// ------------------------------------------------------------------------- conversions

/// A value used as a condition or with `&&`, `||`, `!`: must be a bool.
#[inline(never)]
pub fn as_bool(v: &Value) -> Result<bool, EvalError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(fail(format!("expected a bool, found {}", kind_of(other)))),
    }
}

/// A value used in arithmetic: must be a number.
#[inline(never)]
pub fn as_num(v: &Value) -> Result<f64, EvalError> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| fail("number out of range".to_owned())),
        other => Err(fail(format!("expected a number, found {}", kind_of(other)))),
    }
}

/// A value used as a string argument.
pub fn as_str(v: &Value) -> Result<&str, EvalError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(fail(format!("expected a string, found {}", kind_of(other)))),
    }
}

// ------------------------------------------------------------------------- text

/// Appends a number as text: `3`, `1.5`.
#[inline(never)]
pub fn push_num(buf: &mut String, x: f64) {
    if x.fract() == 0.0 && x.abs() < MAX_SAFE {
        // itoa: a tenth of the instructions of `write!` through the formatting machinery.
        buf.push_str(itoa::Buffer::new().format(x as i64));
    } else {
        let _ = write!(buf, "{x}");
    }
}

/// Appends `true` / `false`.
pub fn push_bool(buf: &mut String, b: bool) {
    buf.push_str(if b { "true" } else { "false" });
}

/// Appends a value as templates show it: strings raw, numbers as `1` / `1.5`, `null`, bools,
/// arrays and objects as JSON.
#[inline(never)]
pub fn push_value(buf: &mut String, v: &Value) {
    match v {
        Value::String(s) => buf.push_str(s),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => buf.push_str(itoa::Buffer::new().format(i)),
            (_, Some(u), _) => buf.push_str(itoa::Buffer::new().format(u)),
            (_, _, Some(f)) => push_num(buf, f),
            _ => {
                let _ = write!(buf, "{n}");
            }
        },
        Value::Bool(b) => push_bool(buf, *b),
        Value::Null => buf.push_str("null"),
        other => buf.push_str(&other.to_string()),
    }
}

/// `v.to_string()`: the text [`push_value`] would append.
#[inline(never)]
pub fn to_text(v: &Value) -> String {
    let mut s = String::new();
    push_value(&mut s, v);
    s
}

/// `v.to_number()`: numbers as they are, strings parsed (surrounding spaces allowed), bools 1/0.
pub fn to_number(v: &Value) -> Result<f64, EvalError> {
    match v {
        Value::Number(_) => as_num(v),
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(fail(format!("cannot convert the string {s:?} to a number"))),
        },
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        other => Err(fail(format!(
            "cannot convert {} to a number",
            kind_of(other)
        ))),
    }
}

// ------------------------------------------------------------------------- construction

/// An empty array with room for `n` elements (array literals).
pub fn array(n: usize) -> Value {
    Value::Array(Vec::with_capacity(n))
}

/// Appends to an array built by [`array`].
pub fn push(arr: &mut Value, v: V<'_>) {
    if let Value::Array(a) = arr {
        a.push(v.into_owned());
    }
}

/// An empty object (object literals).
pub fn object() -> Value {
    Value::Object(Map::new())
}

/// Sets a key of an object built by [`object`].
pub fn insert(obj: &mut Value, k: &str, v: V<'_>) {
    if let Value::Object(m) = obj {
        m.insert(k.to_owned(), v.into_owned());
    }
}

// ------------------------------------------------------------------------- comparison

/// Numeric equality.
#[inline]
pub fn num_eq(a: f64, b: f64) -> bool {
    a == b
}

fn num_of(n: &serde_json::Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// `a == b`: deep equality, numbers by value (`1 == 1.0`).
#[inline(never)]
pub fn eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => num_of(x) == num_of(y),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, p)| y.get(k).is_some_and(|q| eq(p, q)))
        }
        _ => a == b,
    }
}

/// `v == 'literal'`.
#[inline]
pub fn eq_str(v: &Value, s: &str) -> bool {
    matches!(v, Value::String(x) if x == s)
}

/// `v == 3`.
#[inline]
pub fn eq_num(v: &Value, n: f64) -> bool {
    matches!(v, Value::Number(x) if num_of(x) == n)
}

/// `v == true`.
#[inline]
pub fn eq_bool(v: &Value, b: bool) -> bool {
    matches!(v, Value::Bool(x) if *x == b)
}

/// `v == null`.
#[inline]
pub fn is_null(v: &Value) -> bool {
    v.is_null()
}

/// Ordering for `< <= > >=`: two numbers or two strings.
#[inline(never)]
pub fn compare(a: &Value, b: &Value) -> Result<Ordering, EvalError> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_of(x)
            .partial_cmp(&num_of(y))
            .ok_or_else(|| fail("cannot compare these numbers".to_owned())),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err(fail(format!(
            "cannot compare {} with {}",
            kind_of(a),
            kind_of(b)
        ))),
    }
}

// ------------------------------------------------------------------------- arithmetic

/// `a + b` on strings.
#[inline(never)]
pub fn concat(a: &Value, b: &Value) -> Result<String, EvalError> {
    let (x, y) = (as_str(a)?, as_str(b)?);
    let mut s = String::with_capacity(x.len() + y.len());
    s.push_str(x);
    s.push_str(y);
    Ok(s)
}

/// `a + b` on values known only at run time: numbers add, strings concatenate.
#[inline(never)]
pub fn add(a: &Value, b: &Value) -> Result<Value, EvalError> {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => num_value(as_num(a)? + as_num(b)?),
        (Value::String(_), Value::String(_)) => concat(a, b).map(Value::String),
        _ => Err(fail(format!(
            "cannot add {} and {}",
            kind_of(a),
            kind_of(b)
        ))),
    }
}

/// `a / b`; division by zero is an error.
pub fn div(a: f64, b: f64) -> Result<f64, EvalError> {
    if b == 0.0 {
        return Err(fail("division by zero".to_owned()));
    }
    Ok(a / b)
}

/// `a % b` (remainder with the sign of `a`); zero divisor is an error.
pub fn rem(a: f64, b: f64) -> Result<f64, EvalError> {
    if b == 0.0 {
        return Err(fail("remainder by zero".to_owned()));
    }
    Ok(a % b)
}

// ------------------------------------------------------------------------- methods

fn no_method(m: &str, v: &Value) -> EvalError {
    fail(format!("cannot call `{m}` on {}", kind_of(v)))
}

/// `len()`: characters of a string, elements of an array, keys of an object.
#[inline(never)]
pub fn len(v: &Value) -> Result<f64, EvalError> {
    match v {
        Value::String(s) => Ok(s.chars().count() as f64),
        Value::Array(a) => Ok(a.len() as f64),
        Value::Object(m) => Ok(m.len() as f64),
        other => Err(no_method("len", other)),
    }
}

/// `is_empty()`.
pub fn is_empty(v: &Value) -> Result<bool, EvalError> {
    match v {
        Value::String(s) => Ok(s.is_empty()),
        Value::Array(a) => Ok(a.is_empty()),
        Value::Object(m) => Ok(m.is_empty()),
        other => Err(no_method("is_empty", other)),
    }
}

/// `contains(x)`: substring of a string, element (by `==`) of an array, key of an object.
#[inline(never)]
pub fn contains(v: &Value, x: &Value) -> Result<bool, EvalError> {
    match (v, x) {
        (Value::String(s), Value::String(t)) => Ok(s.contains(t.as_str())),
        (Value::Array(a), _) => Ok(a.iter().any(|e| eq(e, x))),
        (Value::Object(m), Value::String(k)) => Ok(m.contains_key(k)),
        (Value::String(_) | Value::Object(_), other) => Err(fail(format!(
            "`contains` on {} needs a string, found {}",
            kind_of(v),
            kind_of(other)
        ))),
        (other, _) => Err(no_method("contains", other)),
    }
}

/// `contains('literal')`.
#[inline(never)]
pub fn contains_str(v: &Value, x: &str) -> Result<bool, EvalError> {
    match v {
        Value::String(s) => Ok(s.contains(x)),
        Value::Array(a) => Ok(a.iter().any(|e| eq_str(e, x))),
        Value::Object(m) => Ok(m.contains_key(x)),
        other => Err(no_method("contains", other)),
    }
}

/// `starts_with(prefix)`.
pub fn starts_with(v: &Value, prefix: &str) -> Result<bool, EvalError> {
    match v {
        Value::String(s) => Ok(s.starts_with(prefix)),
        other => Err(no_method("starts_with", other)),
    }
}

/// `ends_with(suffix)`.
pub fn ends_with(v: &Value, suffix: &str) -> Result<bool, EvalError> {
    match v {
        Value::String(s) => Ok(s.ends_with(suffix)),
        other => Err(no_method("ends_with", other)),
    }
}

/// `to_lower()` (Unicode lower case).
pub fn to_lower(v: &Value) -> Result<String, EvalError> {
    match v {
        Value::String(s) => Ok(s.to_lowercase()),
        other => Err(no_method("to_lower", other)),
    }
}

/// `to_upper()` (Unicode upper case).
pub fn to_upper(v: &Value) -> Result<String, EvalError> {
    match v {
        Value::String(s) => Ok(s.to_uppercase()),
        other => Err(no_method("to_upper", other)),
    }
}

/// `trim()`: without leading and trailing whitespace.
pub fn trim(v: &Value) -> Result<String, EvalError> {
    match v {
        Value::String(s) => Ok(s.trim().to_owned()),
        other => Err(no_method("trim", other)),
    }
}

/// `split(sep)`: the pieces of a string as an array of strings.
#[inline(never)]
pub fn split(v: &Value, sep: &str) -> Result<Value, EvalError> {
    match v {
        Value::String(s) => Ok(Value::Array(
            s.split(sep).map(|p| Value::String(p.to_owned())).collect(),
        )),
        other => Err(no_method("split", other)),
    }
}

/// `join(sep)`: the elements' text (as in templates) joined by `sep`.
#[inline(never)]
pub fn join(v: &Value, sep: &str) -> Result<String, EvalError> {
    match v {
        Value::Array(a) => {
            let mut s = String::new();
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    s.push_str(sep);
                }
                push_value(&mut s, e);
            }
            Ok(s)
        }
        other => Err(no_method("join", other)),
    }
}

/// `keys()`: an object's keys in order.
pub fn keys(v: &Value) -> Result<Value, EvalError> {
    match v {
        Value::Object(m) => Ok(Value::Array(
            m.keys().map(|k| Value::String(k.clone())).collect(),
        )),
        other => Err(no_method("keys", other)),
    }
}

/// `values()`: an object's values in order.
pub fn values(v: &Value) -> Result<Value, EvalError> {
    match v {
        Value::Object(m) => Ok(Value::Array(m.values().cloned().collect())),
        other => Err(no_method("values", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn navigation_is_total() {
        let v = json!({"a": {"b": [1, 2, 3]}, "s": "x"});
        assert_eq!(field(&v, "nope"), Ok(&NULL));
        assert_eq!(field(&NULL, "x"), Ok(&NULL));
        assert_eq!(
            field(&v["s"], "x").map_err(|e| e.message),
            Err("cannot read field `x` of a string".to_owned())
        );
        let arr = &v["a"]["b"];
        assert_eq!(at(arr, -1.0), Ok(&json!(3)));
        assert_eq!(at(arr, 5.0), Ok(&NULL));
        assert!(at(arr, 0.5).is_err());
        assert_eq!(index(&v, &json!("s")), Ok(&json!("x")));
        assert!(index(arr, &json!(true)).is_err());
    }

    #[test]
    fn numbers_print_like_json_integers() {
        assert_eq!(num_value(3.0), Ok(json!(3)));
        assert_eq!(num_value(1.5), Ok(json!(1.5)));
        assert!(num_value(f64::INFINITY).is_err());
        let mut s = String::new();
        push_num(&mut s, 3.0);
        s.push(' ');
        push_value(&mut s, &json!(2.0));
        s.push(' ');
        push_value(&mut s, &json!({"a": [1, "x"]}));
        assert_eq!(s, "3 2 {\"a\":[1,\"x\"]}");
    }

    #[test]
    fn equality_and_ordering() {
        assert!(eq(&json!(1), &json!(1.0)));
        assert!(eq(&json!({"a": [1]}), &json!({"a": [1.0]})));
        assert!(!eq(&json!("1"), &json!(1)));
        assert_eq!(compare(&json!("a"), &json!("b")), Ok(Ordering::Less));
        assert!(compare(&json!("a"), &json!(1)).is_err());
        assert_eq!(add(&json!(1), &json!(2)), Ok(json!(3)));
        assert_eq!(add(&json!("a"), &json!("b")), Ok(json!("ab")));
        assert!(add(&json!("a"), &json!(true)).is_err());
        assert!(div(1.0, 0.0).is_err());
    }

    #[test]
    fn methods() {
        assert_eq!(len(&json!("héllo")), Ok(5.0));
        assert_eq!(
            len(&json!(true)).map_err(|e| e.message),
            Err("cannot call `len` on a bool".to_owned())
        );
        assert_eq!(contains(&json!([1, 2]), &json!(2.0)), Ok(true));
        assert_eq!(contains_str(&json!({"k": 1}), "k"), Ok(true));
        assert_eq!(split(&json!("a,b"), ","), Ok(json!(["a", "b"])));
        assert_eq!(join(&json!(["a", 1, null]), "-"), Ok("a-1-null".to_owned()));
        assert_eq!(to_number(&json!(" 42 ")), Ok(42.0));
        assert!(to_number(&json!("x")).is_err());
        assert_eq!(keys(&json!({"b": 1, "a": 2})), Ok(json!(["b", "a"])));
    }
}
