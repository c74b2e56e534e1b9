//! The `hookflow` binary: the flows compiled from `flows/*.yaml`, handed to the runtime.
//!
//! Everything generic (tokio, axum, the CLI) lives in the runtime crate and is compiled once;
//! this crate only holds the generated flow code, so editing a flow rebuilds very little.

hookflow_flow_macros::flows!("flows");

fn main() -> std::process::ExitCode {
    hookflow_runtime::cli::main(&FLOWS)
}
