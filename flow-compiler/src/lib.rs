//! hookflow's flow compiler, a plain library so that everything is testable without rustc:
//! YAML with positions → checked flow model → Rust tokens. The `flows!` proc macro is a thin
//! shim over [`compile_dir`].

pub mod diag;
pub mod lang;

use proc_macro2::TokenStream;

/// The `flows!` macro: placeholder until the flow compiler lands.
pub fn expand_flows_macro(_input: TokenStream) -> TokenStream {
    quote::quote! {
        pub static FLOWS: ::hookflow_runtime::__gen::Registry =
            ::hookflow_runtime::__gen::Registry { flows: &[] };
    }
}
