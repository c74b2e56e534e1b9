hookflow_flow_macros::flows!("tests/ui/unknown_key");

fn main() {}
