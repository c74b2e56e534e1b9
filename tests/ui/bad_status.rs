hookflow_flow_macros::flows!("tests/ui/bad_status");

fn main() {}
