//! hookflow's runtime: everything that is compiled once and shared by every build of the flows.
//!
//! - [`__gen`]: the support code generated flows call (hidden; not a stable API).
//! - [`cli`]: the `hookflow` command line, entered from the binary's `main`.

#[doc(hidden)]
#[path = "gen/mod.rs"]
pub mod __gen;

pub mod cli;
pub mod signature;
