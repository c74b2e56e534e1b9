//! Flow execution alone, no HTTP: the compiled GitHub and Stripe flows against the same logic
//! written by hand over `serde_json::Value` and run by the Rhai interpreter (one engine, a
//! precompiled AST, a fresh scope per delivery; `rhai` shares one converted payload between
//! deliveries, `rhai_converting` converts each delivery's payload as an interpreting receiver
//! must). Every engine gets the same parsed payloads and
//! produces the same answer bytes (see `logic/mod.rs`).
//!
//! Run: `cargo bench --manifest-path bench/Cargo.toml --bench flow_logic` (or `bench/run.sh logic`).

use criterion::{black_box, criterion_group, criterion_main, Criterion};

mod logic;
use logic::*;

fn bench(c: &mut Criterion) {
    check_same_answers();
    let push = push();
    let stripe = stripe();

    let mut g = c.benchmark_group("github_push");
    let mut compiled = Compiled::new("github", Some(("X-GitHub-Event", "push")), PUSH);
    g.bench_function("compiled", |b| b.iter(|| black_box(compiled.deliver())));
    g.bench_function("handwritten", |b| {
        b.iter(|| black_box(handwritten_github(black_box("push"), &push)))
    });
    let rhai = Rhai::new(RHAI_GITHUB, &push, &[("X-GitHub-Event", "push")]);
    g.bench_function("rhai", |b| b.iter(|| black_box(rhai.deliver())));
    g.bench_function("rhai_converting", |b| {
        b.iter(|| black_box(rhai.deliver_converting(black_box(&push))))
    });
    g.finish();

    let mut g = c.benchmark_group("stripe_succeeded");
    let mut compiled = Compiled::new("stripe", None, STRIPE);
    g.bench_function("compiled", |b| b.iter(|| black_box(compiled.deliver())));
    g.bench_function("handwritten", |b| {
        b.iter(|| black_box(handwritten_stripe(black_box(&stripe))))
    });
    let rhai = Rhai::new(RHAI_STRIPE, &stripe, &[]);
    g.bench_function("rhai", |b| b.iter(|| black_box(rhai.deliver())));
    g.bench_function("rhai_converting", |b| {
        b.iter(|| black_box(rhai.deliver_converting(black_box(&stripe))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
