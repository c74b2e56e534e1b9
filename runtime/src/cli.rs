//! The `hookflow` command line.

use crate::__gen::Registry;
use std::process::ExitCode;

/// Runs the command line with the flows compiled into this binary.
pub fn main(flows: &'static Registry) -> ExitCode {
    for f in flows.flows {
        println!("{}", f.name);
    }
    ExitCode::SUCCESS
}
