//! hookflow over `testbed/flows/`: exactly the root binary's `main`, with flows made for the
//! tests that need a real process (SIGKILL mid-way, the `deliveries` commands) and for the
//! acknowledged-deliveries benchmark (`bench/ack_rate.sh`).

use std::process::ExitCode;

hookflow_flow_macros::flows!("flows");

fn main() -> ExitCode {
    hookflow_runtime::cli::main(&FLOWS)
}
