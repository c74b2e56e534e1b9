hookflow_flow_macros::flows!("tests/ui/compare_types");

fn main() {}
