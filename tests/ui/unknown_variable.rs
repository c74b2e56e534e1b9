hookflow_flow_macros::flows!("tests/ui/unknown_variable");

fn main() {}
