//! Golden diagnostics: every subfolder of `tests/golden/` is compiled as a flows folder and the
//! rendered diagnostics are compared with its `expected.txt` (`UPDATE_GOLDEN=1` rewrites them).
//! Also: the shipped flows compile without diagnostics, and code generation is deterministic.

use hookflow_flow_compiler::compile_dir;
use std::path::Path;

#[test]
fn golden_diagnostics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut cases: Vec<_> = std::fs::read_dir(root.join("golden"))
        .expect("golden folder")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 15,
        "expected the golden cases, found {cases:?}"
    );
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let (out, _) = compile_dir(&root, &format!("golden/{case}")).expect("readable");
        let got = out.render();
        assert!(!got.is_empty(), "{case}: expected at least one diagnostic");
        let expected_path = root.join("golden").join(case).join("expected.txt");
        if update {
            std::fs::write(&expected_path, &got).expect("write expected.txt");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != got {
            failures.push(format!("--- {case}: expected\n{expected}\n--- got\n{got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn shipped_flows_compile_without_diagnostics_and_deterministically() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (a, files) = compile_dir(&root, "flows").expect("flows folder");
    assert!(files.len() >= 7, "{files:?}");
    assert_eq!(a.render(), "");
    let (b, _) = compile_dir(&root, "flows").expect("flows folder");
    assert_eq!(a.tokens.to_string(), b.tokens.to_string());
    let code = a.tokens.to_string();
    for name in [
        "handle_webhook",
        "github_webhook",
        "stripe_webhook",
        "process_webhook_data",
        "github_forward",
        "deploy",
    ] {
        assert!(code.contains(&format!("flow_{name}")), "{name} missing");
    }
}

#[test]
fn flows_are_emitted_sorted_by_name_whatever_the_file_order() {
    let flow = |name: &str| {
        format!("name: {name}\nnodes:\n  - id: a\n    type: http_response\n    config: {{status: 200}}\n")
    };
    let x = hookflow_flow_compiler::compile_sources(vec![
        ("f/1.yaml".into(), flow("zeta")),
        ("f/2.yaml".into(), flow("alpha")),
    ]);
    assert!(x.diagnostics.is_empty(), "{}", x.render());
    let code = x.tokens.to_string();
    let tail = &code[code.find("pub static FLOWS").expect("registry")..];
    let (a, z) = (tail.find("flow_alpha"), tail.find("flow_zeta"));
    assert!(a.is_some() && a < z, "{tail}");
}
