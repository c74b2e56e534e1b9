//! Answer bodies written as JSON text while the flow runs.
//!
//! An `http_response` body with templates is compiled to a [`JsonOut`]: the constant parts
//! (keys, punctuation, constant values) are serialised by the compiler into string literals
//! ([`JsonOut::raw`]) and only the templates' values are serialised at run time
//! ([`JsonOut::value`]). No `Value` tree is built for the answer, nothing is copied out of the
//! delivery or the node outputs, and the bytes are what goes on the wire ([`Body::JsonText`]).
//! Every method is a non-generic call, so the generated code stays small (see the build loop in
//! BENCHMARKS.md).

use super::{Body, Value};

/// An answer body being written; see the module documentation.
#[derive(Debug)]
pub struct JsonOut(Vec<u8>);

impl JsonOut {
    /// A body of about `capacity` bytes (the compiler's estimate).
    #[inline(never)]
    pub fn new(capacity: usize) -> JsonOut {
        JsonOut(Vec::with_capacity(capacity))
    }

    /// Appends JSON text the compiler produced (constant keys, punctuation and values).
    #[inline(never)]
    pub fn raw(&mut self, json: &str) {
        self.0.extend_from_slice(json.as_bytes());
    }

    /// Appends a template's value as JSON.
    #[inline(never)]
    pub fn value(&mut self, v: &Value) {
        // Writing a `Value` into a `Vec` cannot fail (its keys are strings, a `Vec` takes any
        // length); should it ever, the body still ends up as valid JSON with `null` here.
        let start = self.0.len();
        if serde_json::to_writer(&mut self.0, v).is_err() {
            self.0.truncate(start);
            self.0.extend_from_slice(b"null");
        }
    }

    /// The finished body.
    #[inline(never)]
    pub fn finish(self) -> Body {
        Body::JsonText(bytes::Bytes::from(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_the_same_json_as_serialising_the_value() {
        let mut out = JsonOut::new(8);
        out.raw(r#"{"message":"#);
        out.value(&json!("Received \"3\" commits\n"));
        out.raw(r#","n":1,"obj":"#);
        out.value(&json!({"b": [1, 2.5, null], "a": true}));
        out.raw("}");
        let body = out.finish();
        assert_eq!(
            body.to_value(),
            json!({"message": "Received \"3\" commits\n", "n": 1, "obj": {"b": [1, 2.5, null], "a": true}})
        );
        assert_eq!(
            body.to_bytes(),
            &br#"{"message":"Received \"3\" commits\n","n":1,"obj":{"b":[1,2.5,null],"a":true}}"#[..]
        );
    }
}
