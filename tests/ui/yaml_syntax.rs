hookflow_flow_macros::flows!("tests/ui/yaml_syntax");

fn main() {}
