hookflow_flow_macros::flows!("tests/ui/unknown_node");

fn main() {}
