//! A fixed number of deliveries through one engine, for instruction counts that do not depend
//! on machine noise:
//!
//!     valgrind --tool=callgrind --toggle-collect='logic_count::deliveries' \
//!         bench/target/release/examples/logic_count github-compiled 10000
//!
//! Instructions per delivery = the collected `Ir` / the count. Engines: `{github,stripe}-
//! {compiled,handwritten,rhai}`.

use std::hint::black_box;

#[path = "../benches/logic/mod.rs"]
mod logic;
use logic::*;

#[inline(never)]
fn deliveries(n: u64, mut one: impl FnMut() -> usize) -> usize {
    let mut total = 0;
    for _ in 0..n {
        total += black_box(one());
    }
    total
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    check_same_answers();
    let push = push();
    let stripe = stripe();
    let bytes = match which.as_str() {
        "github-compiled" => {
            let mut c = Compiled::new("github", Some(("X-GitHub-Event", "push")), PUSH);
            deliveries(n, || c.deliver().1.len())
        }
        "github-handwritten" => {
            deliveries(n, || handwritten_github(black_box("push"), &push).1.len())
        }
        "github-rhai" => {
            let r = Rhai::new(RHAI_GITHUB, &push, &[("X-GitHub-Event", "push")]);
            deliveries(n, || r.deliver().1.len())
        }
        "stripe-compiled" => {
            let mut c = Compiled::new("stripe", None, STRIPE);
            deliveries(n, || c.deliver().1.len())
        }
        "stripe-handwritten" => deliveries(n, || handwritten_stripe(black_box(&stripe)).1.len()),
        "stripe-rhai" => {
            let r = Rhai::new(RHAI_STRIPE, &stripe, &[]);
            deliveries(n, || r.deliver().1.len())
        }
        other => {
            eprintln!("unknown engine `{other}`: {{github,stripe}}-{{compiled,handwritten,rhai}}");
            std::process::exit(2);
        }
    };
    println!("{which}: {n} deliveries, {bytes} answer bytes");
}
