hookflow_flow_macros::flows!("tests/ui/bad_method");

fn main() {}
