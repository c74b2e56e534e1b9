//! Checker tests: every HF03xx code is triggered and asserted with its exact position, the
//! types the checker infers, no cascades, and the shape of the generated code.

use super::*;
use crate::diag::Span;

fn origin() -> Origin {
    Origin {
        file: 0,
        line: 1,
        col: 1,
        block: true,
    }
}

fn scope() -> Scope {
    Scope {
        nodes: vec![("process".to_owned(), 0), ("fetch_user".to_owned(), 1)],
        error: false,
        payload: Default::default(),
    }
}

type CompileFn = fn(&str, &Origin, &Scope, &mut Vec<Diagnostic>) -> Option<Compiled>;

fn diags_of(f: CompileFn, text: &str) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    let r = f(text, &origin(), &scope(), &mut d);
    assert_eq!(
        r.is_some(),
        d.is_empty(),
        "result and diagnostics disagree for {text:?}"
    );
    d
}

/// `(code, line, col, len)` of each diagnostic.
fn found(f: CompileFn, text: &str) -> Vec<(&'static str, u32, u32, u32)> {
    diags_of(f, text)
        .iter()
        .map(|d| (d.code.0, d.span.line, d.span.col, d.span.len))
        .collect()
}

fn script(text: &str) -> Vec<(&'static str, u32, u32, u32)> {
    found(compile_script, text)
}

fn cond(text: &str) -> Vec<(&'static str, u32, u32, u32)> {
    found(compile_condition, text)
}

fn tmpl(text: &str) -> Vec<(&'static str, u32, u32, u32)> {
    found(compile_template, text)
}

fn ty_of(text: &str) -> Option<Type> {
    let mut d = Vec::new();
    compile_script(text, &origin(), &scope(), &mut d).map(|c| c.ty)
}

fn help_of(f: CompileFn, text: &str) -> Option<String> {
    diags_of(f, text).first().and_then(|d| d.help.clone())
}

#[test]
fn seed_examples_compile() {
    assert_eq!(cond("headers['x-github-event'] == 'push'"), vec![]);
    assert_eq!(
        cond("event.payload.type == 'payment_intent.succeeded'"),
        vec![]
    );
    assert_eq!(
        script("let data = event.payload;\n// process the webhook data\ndata\n"),
        vec![]
    );
    assert_eq!(
        script(
            "let commits = event.payload.commits; format!(\"Received {} commits\", commits.len())"
        ),
        vec![]
    );
    assert_eq!(tmpl("{{event.payload}}"), vec![]);
    assert_eq!(tmpl("got {{nodes.process}} for {{event.tenant}}"), vec![]);
}

#[test]
fn types_are_inferred() {
    assert_eq!(ty_of("event.payload"), Some(Type::ANY));
    assert_eq!(ty_of("event.tenant"), Some(Type::STRING));
    assert_eq!(
        ty_of("headers['X-A']"),
        Some(Type::Json(Kinds::STRING | Kinds::NULL))
    );
    assert_eq!(ty_of("event.payload.commits.len()"), Some(Type::NUMBER));
    assert_eq!(ty_of("let x = 1; x * 2 + 1"), Some(Type::NUMBER));
    assert_eq!(ty_of("'a' + event.tenant"), Some(Type::STRING));
    assert_eq!(ty_of("event.payload.a + 1"), Some(Type::NUMBER));
    assert_eq!(
        ty_of("event.payload.a + event.payload.b"),
        Some(Type::Json(Kinds::NUMBER | Kinds::STRING))
    );
    assert_eq!(
        ty_of("if event.payload.ok { 1 } else { 'x' }"),
        Some(Type::Json(Kinds::NUMBER | Kinds::STRING))
    );
    assert_eq!(
        ty_of("if true { 1 }"),
        Some(Type::Json(Kinds::NUMBER | Kinds::NULL))
    );
    assert_eq!(ty_of("[1, 'a']"), Some(Type::Json(Kinds::ARRAY)));
    assert_eq!(ty_of("{a: 1, \"b\": [2]}"), Some(Type::Json(Kinds::OBJECT)));
    assert_eq!(ty_of("event"), Some(Type::Record(Record::Event)));
    assert_eq!(ty_of("let e = event; e.tenant"), Some(Type::STRING));
    assert_eq!(ty_of("format!(\"{{}} {}\", 1)"), Some(Type::STRING));
    assert_eq!(ty_of("nodes.process"), Some(Type::ANY));
    assert_eq!(ty_of("!(1 < 2) && 'a' <= 'b'"), Some(Type::BOOL));
}

#[test]
fn hf0301_invalid_token() {
    assert_eq!(script("'abc"), vec![("HF0301", 1, 1, 1)]);
    assert_eq!(cond("a # b"), vec![("HF0301", 1, 3, 1)]);
    assert_eq!(cond("'\\q' == 'x'"), vec![("HF0301", 1, 2, 2)]);
    assert_eq!(cond("a & b"), vec![("HF0301", 1, 3, 1)]);
}

#[test]
fn hf0302_syntax_error() {
    assert_eq!(cond("event.payload.type =="), vec![("HF0302", 1, 22, 1)]);
    assert_eq!(cond("a == b == c"), vec![("HF0302", 1, 8, 2)]);
    assert_eq!(script("let x = 1\nx"), vec![("HF0302", 2, 1, 1)]);
    assert_eq!(cond("(event.tenant"), vec![("HF0302", 1, 14, 1)]);
}

#[test]
fn hf0303_unknown_variable() {
    assert_eq!(script("let data = 1; dat"), vec![("HF0303", 1, 15, 3)]);
    assert_eq!(
        help_of(compile_script, "let data = 1; dat").as_deref(),
        Some("did you mean `data`?")
    );
    assert_eq!(
        help_of(compile_condition, "evnt.tenant == 'a'").as_deref(),
        Some("did you mean `event`?")
    );
    // `error` only exists in on_error targets.
    assert_eq!(script("error.message"), vec![("HF0303", 1, 1, 5)]);
    let mut d = Vec::new();
    let s = Scope {
        error: true,
        ..scope()
    };
    assert!(compile_script("error.message", &origin(), &s, &mut d).is_some());
    // A local is not visible outside its block.
    assert_eq!(
        script("if true { let a = 1; a } else { a }"),
        vec![("HF0303", 1, 33, 1)]
    );
}

#[test]
fn hf0304_unknown_field() {
    assert_eq!(cond("event.tenat == 'acme'"), vec![("HF0304", 1, 7, 5)]);
    assert_eq!(
        help_of(compile_condition, "event.tenat == 'acme'").as_deref(),
        Some("did you mean `tenant`?")
    );
    assert_eq!(script("nodes.proces"), vec![("HF0304", 1, 7, 6)]);
    assert_eq!(
        help_of(compile_script, "nodes.proces").as_deref(),
        Some("did you mean `process`?")
    );
    assert_eq!(script("headers.x_github_event"), vec![("HF0304", 1, 9, 14)]);
    assert_eq!(
        help_of(compile_script, "headers.x_github_event").as_deref(),
        Some("write `headers['x-github-event']`")
    );
    assert_eq!(script("event['nope']"), vec![("HF0304", 1, 7, 6)]);
}

#[test]
fn hf0305_unknown_method() {
    assert_eq!(script("event.tenant.lenght()"), vec![("HF0305", 1, 14, 6)]);
    assert_eq!(
        help_of(compile_script, "event.tenant.lenght()").as_deref(),
        Some("did you mean `len`?")
    );
    assert_eq!(
        script("event.tenant.to_uppercase()"),
        vec![("HF0305", 1, 14, 12)]
    );
    assert_eq!(
        help_of(compile_script, "event.tenant.to_uppercase()").as_deref(),
        Some("did you mean `to_upper`?")
    );
}

#[test]
fn hf0306_unknown_function() {
    assert_eq!(script("len(event.payload)"), vec![("HF0306", 1, 1, 3)]);
    assert_eq!(
        help_of(compile_script, "len(event.payload)").as_deref(),
        Some("`len` is a method: write `value.len(...)`")
    );
    assert_eq!(script("format(\"{}\", 1)"), vec![("HF0306", 1, 1, 6)]);
    assert_eq!(script("println!(\"x\")"), vec![("HF0306", 1, 1, 7)]);
}

#[test]
fn hf0307_wrong_argument_count() {
    assert_eq!(
        script("event.tenant.starts_with()"),
        vec![("HF0307", 1, 14, 11)]
    );
    assert_eq!(
        script("event.payload.commits.len(1)"),
        vec![("HF0307", 1, 23, 3)]
    );
    assert_eq!(
        script("format!(\"{} and {}\", 1)"),
        vec![("HF0307", 1, 1, 6)]
    );
    assert_eq!(script("format!(\"x\", 1)"), vec![("HF0307", 1, 1, 6)]);
}

#[test]
fn hf0308_incompatible_comparison() {
    assert_eq!(cond("headers['x'] == 5"), vec![("HF0308", 1, 14, 2)]);
    let d = diags_of(compile_condition, "headers['x'] == 5");
    assert_eq!(d[0].message, "cannot compare `string|null` with `number`");
    assert_eq!(cond("event.tenant != true"), vec![("HF0308", 1, 14, 2)]);
    assert_eq!(cond("'a' < 1"), vec![("HF0308", 1, 5, 1)]);
    assert_eq!(cond("[1] >= [2]"), vec![("HF0308", 1, 5, 2)]);
    // json compares with anything.
    assert_eq!(
        cond("event.payload.x == 5 && event.payload.y < 'b'"),
        vec![]
    );
}

#[test]
fn hf0309_operator_types() {
    assert_eq!(script("'a' + true"), vec![("HF0309", 1, 5, 1)]);
    let d = diags_of(compile_script, "'a' + true");
    assert_eq!(d[0].message, "cannot add `string` and `bool`");
    assert_eq!(script("'a' * 2"), vec![("HF0309", 1, 5, 1)]);
    assert_eq!(script("-'x'"), vec![("HF0309", 1, 1, 1)]);
    assert_eq!(cond("!1"), vec![("HF0309", 1, 1, 1)]);
    assert_eq!(cond("true && 'x'"), vec![("HF0309", 1, 6, 2)]);
    assert_eq!(script("event + 1"), vec![("HF0309", 1, 7, 1)]);
}

#[test]
fn hf0310_condition_not_bool() {
    assert_eq!(cond("event.tenant"), vec![("HF0310", 1, 1, 12)]);
    assert_eq!(cond("1"), vec![("HF0310", 1, 1, 1)]);
    assert_eq!(cond("'push'"), vec![("HF0310", 1, 1, 6)]);
    assert_eq!(script("if 1 { 2 } else { 3 }"), vec![("HF0310", 1, 4, 1)]);
    // json conditions are checked at run time.
    assert_eq!(cond("event.payload.forced"), vec![]);
}

#[test]
fn hf0311_method_on_wrong_type() {
    assert_eq!(script("(1).to_upper()"), vec![("HF0311", 1, 5, 8)]);
    assert_eq!(script("event.tenant.keys()"), vec![("HF0311", 1, 14, 4)]);
    assert_eq!(
        script("event.tenant.starts_with(1)"),
        vec![("HF0311", 1, 26, 1)]
    );
    assert_eq!(script("'abc'.contains(1)"), vec![("HF0311", 1, 16, 1)]);
    assert_eq!(script("event.payload.commits.contains(1)"), vec![]);
}

#[test]
fn hf0312_no_fields_or_index() {
    assert_eq!(script("event.tenant.x"), vec![("HF0312", 1, 14, 1)]);
    assert_eq!(script("(1)[0]"), vec![("HF0312", 1, 5, 1)]);
    assert_eq!(script("event.payload[true]"), vec![("HF0312", 1, 15, 4)]);
    assert_eq!(script("headers[1]"), vec![("HF0312", 1, 9, 1)]);
}

#[test]
fn hf0313_template_syntax() {
    assert_eq!(tmpl("hello {{event.tenant"), vec![("HF0313", 1, 7, 2)]);
    assert_eq!(tmpl("a {{ }} b"), vec![("HF0313", 1, 3, 5)]);
    // Errors inside a hole point into the string.
    assert_eq!(tmpl("x {{event.tenat}}"), vec![("HF0304", 1, 11, 5)]);
    assert_eq!(tmpl("x {{1 +}}"), vec![("HF0302", 1, 8, 1)]);
    // Braces inside strings and object literals do not close the hole.
    assert_eq!(tmpl("{{ {a: {b: '}}'}} }}"), vec![]);
    assert_eq!(tmpl("no holes }} here"), vec![]);
}

#[test]
fn hf0314_bad_format_string() {
    assert_eq!(script("format!(x)"), vec![("HF0314", 1, 9, 1)]);
    assert_eq!(script("format!(\"{0}\", 1)"), vec![("HF0314", 1, 10, 3)]);
    assert_eq!(script("format!(\"a } b\")"), vec![("HF0314", 1, 12, 1)]);
    assert_eq!(script("format!()"), vec![("HF0314", 1, 1, 6)]);
}

#[test]
fn hf0315_no_output() {
    assert_eq!(script("let x = 1;"), vec![("HF0315", 1, 10, 1)]);
    assert_eq!(script("let x = 1;\nx;\n"), vec![("HF0315", 2, 2, 1)]);
    assert_eq!(script(""), vec![("HF0315", 1, 1, 1)]);
}

#[test]
fn hf0316_duplicate_key() {
    assert_eq!(script("{a: 1, \"a\": 2}"), vec![("HF0316", 1, 8, 3)]);
}

#[test]
fn all_errors_reported_without_cascades() {
    // Two independent mistakes: both reported.
    assert_eq!(
        script("let a = evnt.x;\nlet b = 'a' + true;\n[a, b]"),
        vec![("HF0303", 1, 9, 4), ("HF0309", 2, 13, 1)]
    );
    // A mistake's consequences are not reported again.
    assert_eq!(
        script("let a = evnt.x; a.len() + a.y.to_upper() == 1"),
        vec![("HF0303", 1, 9, 4)]
    );
    assert_eq!(cond("event.tenat == 5"), vec![("HF0304", 1, 7, 5)]);
    assert_eq!(
        tmpl("{{evnt}} and {{event.tenat}}"),
        vec![("HF0303", 1, 3, 4), ("HF0304", 1, 22, 5)]
    );
}

#[test]
fn spans_follow_the_yaml_origin() {
    // A flow scalar at line 7, col 21; a block scalar starting at line 3, col 9.
    let flow = Origin {
        file: 2,
        line: 7,
        col: 21,
        block: false,
    };
    let mut d = Vec::new();
    compile_condition("headers['x'] == 5", &flow, &scope(), &mut d);
    assert_eq!(
        d.first().map(|d| d.span),
        Some(Span {
            file: 2,
            line: 7,
            col: 34,
            len: 2
        })
    );
    let block = Origin {
        file: 1,
        line: 3,
        col: 9,
        block: true,
    };
    let mut d = Vec::new();
    compile_script("let data = event.payload;\ndat\n", &block, &scope(), &mut d);
    assert_eq!(
        d.first().map(|d| d.span),
        Some(Span {
            file: 1,
            line: 4,
            col: 9,
            len: 3
        })
    );
}

fn code_of(f: CompileFn, text: &str) -> String {
    let mut d = Vec::new();
    f(text, &origin(), &scope(), &mut d)
        .map(|c| c.code.to_string())
        .unwrap_or_default()
}

#[test]
fn generated_code_uses_fast_paths() {
    let c = code_of(compile_condition, "headers['X-GitHub-Event'] == 'push'");
    assert!(c.contains("eq_str"), "{c}");
    assert!(c.contains("\"x-github-event\""), "{c}");
    assert!(!c.contains("Value :: String"), "{c}");
    // Borrowed path: no copy of the payload.
    let c = code_of(compile_script, "let data = event.payload; data");
    assert!(c.contains("Cow :: Borrowed"), "{c}");
    assert!(!c.contains("own"), "{c}");
    // Counting is f64 arithmetic, not a JSON value until the end.
    let c = code_of(compile_script, "event.payload.commits.len() + 1");
    assert!(c.contains(":: len ("), "{c}");
    assert!(c.contains("num_value"), "{c}");
    // Local names are mangled.
    let c = code_of(compile_script, "let type = 1; type");
    assert!(c.contains("__v_type"), "{c}");
    // Deterministic.
    assert_eq!(
        code_of(compile_script, "{b: nodes, a: [1, 'x']}"),
        code_of(compile_script, "{b: nodes, a: [1, 'x']}")
    );
}

#[test]
fn templates_shape() {
    let mut d = Vec::new();
    let one = compile_template("{{event.payload}}", &origin(), &scope(), &mut d);
    assert_eq!(one.map(|c| c.ty), Some(Type::ANY));
    let text = compile_template("n={{event.payload.n}}", &origin(), &scope(), &mut d);
    assert_eq!(text.map(|c| c.ty), Some(Type::STRING));
    let constant = compile_template("plain", &origin(), &scope(), &mut d);
    assert_eq!(constant.map(|c| c.ty), Some(Type::STRING));
    assert!(d.is_empty());
}

#[test]
#[ignore = "prints generated code for inspection"]
fn print_generated() {
    for (f, s) in [
        (
            compile_condition as CompileFn,
            "headers['x-github-event'] == 'push'",
        ),
        (
            compile_script,
            "let commits = event.payload.commits; format!(\"Received {} commits\", commits.len())",
        ),
        (
            compile_script,
            "let x = {a: [1, nodes.process]}; if x.a.len() > 1 { x } else { x.a.first() }",
        ),
        (
            compile_template,
            "{{event.tenant}}: {{event.payload.ref.split('/').last()}}",
        ),
    ] {
        println!("{s}\n  => {}\n", code_of(f, s));
    }
}

#[test]
#[ignore = "prints diagnostics for inspection"]
fn print_diagnostics() {
    for (f, s) in [
        (
            compile_script as CompileFn,
            "let commits = event.payload.commits;\nformat!(\"Received {} commits\", comits.len())",
        ),
        (compile_condition, "event.tenat == 'acme'"),
        (
            compile_script,
            "let title = event.payload.pull_request.title;\ntitle.to_uppercase()",
        ),
        (
            compile_condition,
            "event.payload.ref.starts_with('refs/heads/', 'main')",
        ),
        (compile_condition, "headers['x-attempt'] == 5"),
        (compile_script, "let label = 'a' + true;\nlabel"),
        (compile_condition, "event.payload.commits.len()"),
        (compile_template, "{{event.tenant"),
        (compile_condition, "event.payload.action == 'opened' &&"),
        (
            compile_script,
            "let pr = event.payload.pull_request;\nformat!(\"PR #{} by {}\", pr.number)",
        ),
        (compile_script, "error.message"),
        (compile_script, "nodes.x"),
    ] {
        for d in diags_of(f, s) {
            println!("{s:?}\n  error[{}]: {} @{}:{}+{}\n    label: {}\n    notes: {:?}\n    help: {:?}\n", d.code, d.message, d.span.line, d.span.col, d.span.len, d.label, d.notes, d.help);
        }
    }
}

/// The language snippets of a golden `flow.yaml`, found without a YAML parser (the golden flows
/// keep to simple shapes): `expression: "..."`, `script: |` blocks, and other `"..{{..."`
/// strings (templates).
fn golden_snippets(yaml: &str) -> Vec<(CompileFn, String, Origin)> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let line_no = i as u32 + 1;
        if let Some(k) = line.find("expression: \"") {
            let start = k + "expression: \"".len();
            let text = &line[start..line.rfind('"').unwrap_or(line.len())];
            let origin = Origin {
                file: 0,
                line: line_no,
                col: start as u32 + 1,
                block: false,
            };
            out.push((compile_condition as CompileFn, text.to_owned(), origin));
        } else if line.trim_end().ends_with("script: |") {
            let base = line.len() - line.trim_start().len();
            let body: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.len() - l.trim_start().len() > base)
                .copied()
                .collect();
            let indent = body.first().map_or(0, |l| l.len() - l.trim_start().len());
            let text: String = body
                .iter()
                .map(|l| format!("{}\n", &l[indent.min(l.len())..]))
                .collect();
            let origin = Origin {
                file: 0,
                line: line_no + 1,
                col: indent as u32 + 1,
                block: true,
            };
            out.push((compile_script as CompileFn, text, origin));
            i += body.len();
        } else {
            let mut rest = 0;
            while let Some(q) = line[rest..].find('"').map(|q| q + rest) {
                let close = line[q + 1..].find('"').map_or(line.len(), |c| q + 1 + c);
                let text = &line[q + 1..close];
                if text.contains("{{") {
                    let origin = Origin {
                        file: 0,
                        line: line_no,
                        col: q as u32 + 2,
                        block: false,
                    };
                    out.push((compile_template as CompileFn, text.to_owned(), origin));
                }
                rest = (close + 1).min(line.len());
            }
        }
        i += 1;
    }
    out
}

#[test]
fn golden_flows_have_exactly_one_language_mistake_at_the_right_token() {
    let cases: [(&str, &str, &str); 10] = [
        ("lang_unknown_variable", "HF0303", "comits"),
        ("lang_unknown_field", "HF0304", "tenat"),
        ("lang_unknown_method", "HF0305", "to_uppercase"),
        ("lang_wrong_arg_count", "HF0307", "starts_with"),
        ("lang_compare_types", "HF0308", "=="),
        ("lang_add_types", "HF0309", "+"),
        (
            "lang_condition_not_bool",
            "HF0310",
            "event.payload.commits.len()",
        ),
        ("lang_template_syntax", "HF0313", "{{"),
        ("lang_parse_error", "HF0302", "\""),
        ("lang_format_args", "HF0307", "format"),
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (dir, code, token) in cases {
        let yaml = std::fs::read_to_string(root.join(dir).join("flow.yaml")).unwrap_or_default();
        assert!(!yaml.is_empty(), "{dir}/flow.yaml is missing");
        let ids: Vec<String> = yaml
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- id: "))
            .map(str::to_owned)
            .collect();
        let scope = Scope {
            nodes: ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i as u16))
                .collect(),
            error: false,
            payload: Default::default(),
        };
        let mut diags = Vec::new();
        for (f, text, origin) in golden_snippets(&yaml) {
            f(&text, &origin, &scope, &mut diags);
        }
        assert_eq!(diags.len(), 1, "{dir}: {diags:#?}");
        let d = &diags[0];
        assert_eq!(d.code.0, code, "{dir}");
        let line = yaml
            .lines()
            .nth(d.span.line as usize - 1)
            .unwrap_or_default();
        let at: String = line
            .chars()
            .skip(d.span.col as usize - 1)
            .take(d.span.len as usize)
            .collect();
        assert_eq!(at, token, "{dir}: caret under the wrong text in {line:?}");
    }
}

#[test]
fn single_hole_templates() {
    for yes in ["{{event.payload}}", "{{ {a: '}}'} }}", "{{nodes.process}}"] {
        assert!(template_is_single_hole(yes), "{yes}");
    }
    for no in [
        "",
        "text",
        " {{event.payload}}",
        "{{a}}{{b}}",
        "{{a}} ",
        "{{ }}",
        "{{a",
    ] {
        assert!(!template_is_single_hole(no), "{no}");
    }
}

#[test]
fn error_has_kind_message_and_node_in_on_error_targets() {
    let with_error = Scope {
        error: true,
        ..scope()
    };
    let mut d = Vec::new();
    let c = compile_template(
        "{{error.node}}: {{error.kind}} {{error.message}}",
        &origin(),
        &with_error,
        &mut d,
    );
    assert!(c.is_some() && d.is_empty(), "{d:?}");
    let mut d = Vec::new();
    assert!(compile_template("{{error.code}}", &origin(), &with_error, &mut d).is_none());
    assert_eq!(d[0].code, HF0304);
    assert!(d[0].notes[0].contains("`kind`, `message`, `node`"), "{d:?}");
}

/// What a snippet reads of `event.payload`, after checking it in a fresh scope.
fn reads(f: CompileFn, text: &str) -> (bool, Vec<String>) {
    let s = scope();
    let mut d = Vec::new();
    f(text, &origin(), &s, &mut d);
    assert!(d.is_empty(), "{text}: {d:?}");
    let r = s.payload.borrow().clone();
    (r.whole, r.fields.into_iter().collect())
}

#[test]
fn payload_reads_are_the_top_level_fields_unless_the_payload_is_used_whole() {
    let fields = |v: &[&str]| (false, v.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>());
    assert_eq!(
        reads(
            compile_script,
            "let commits = event.payload.commits; commits.len()"
        ),
        fields(&["commits"])
    );
    assert_eq!(
        reads(
            compile_condition,
            "event.payload.type == 'a' && event.payload.data.object.id == 'b'"
        ),
        fields(&["data", "type"])
    );
    assert_eq!(
        reads(
            compile_template,
            "#{{event.payload.number}} by {{headers['x']}}"
        ),
        fields(&["number"])
    );
    assert_eq!(reads(compile_script, "event.tenant"), fields(&[]));
    // A local bound to exactly `event.payload` reads fields like it.
    assert_eq!(
        reads(
            compile_script,
            "let pr = event.payload; format!(\"{} {}\", pr.number, pr.action)"
        ),
        fields(&["action", "number"])
    );
    assert_eq!(
        reads(compile_script, "let p = event.payload; let p = 1; p + 1"),
        fields(&[])
    );
    // The whole payload: as a value, indexed, a method on it, through `event` as a value, or
    // through a local holding it.
    for whole in [
        "event.payload",
        "event.payload['type']",
        "event.payload.len()",
        "event",
        "let e = event; e.payload.type",
        "let p = event.payload; p",
        "let p = event.payload; p.len()",
        "let p = event.payload; p['type']",
    ] {
        assert!(reads(compile_script, whole).0, "{whole}");
    }
    assert!(reads(compile_template, "{{event.payload}}").0);
}
