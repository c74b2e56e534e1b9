//! Integration tests: ui. Each `tests/ui/<case>.rs` runs the real `flows!` macro on the YAML in
//! `tests/ui/<case>/` (one mistake each) and must fail to compile with the `.stderr` beside it.
//! `CARGO_MANIFEST_DIR_OVERRIDE` makes the macro resolve the folder against this crate, since
//! trybuild compiles the cases in a crate of its own.

#[test]
fn flow_mistakes_are_compile_errors() {
    std::env::set_var("CARGO_MANIFEST_DIR_OVERRIDE", env!("CARGO_MANIFEST_DIR"));
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

#[test]
fn stderr_files_hold_no_absolute_paths() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui");
    let mut n = 0;
    for e in std::fs::read_dir(dir)
        .expect("tests/ui")
        .filter_map(Result::ok)
    {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) == Some("stderr") {
            let text = std::fs::read_to_string(&p).expect("read");
            assert!(
                !text.contains(env!("CARGO_MANIFEST_DIR")),
                "{}",
                p.display()
            );
            assert!(text.contains("[HF0"), "{}: no hookflow code", p.display());
            n += 1;
        }
    }
    assert!(n >= 6, "expected at least six ui cases, found {n}");
}
