//! hookflow's integration tests: one test binary, one module per area. HTTP tests start the real
//! server on port 0 and talk to it over a socket.

mod flows;
mod ops;
mod server;
mod setup;
mod signatures;
mod ui;
