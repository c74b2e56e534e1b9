hookflow_flow_macros::flows!("tests/ui/cycle");

fn main() {}
