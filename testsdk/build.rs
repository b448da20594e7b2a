//! Compiles the C test SDK (c/testsdk.c) into a static library and links pthread.

fn main() {
    println!("cargo:rerun-if-changed=c/testsdk.c");
    println!("cargo:rerun-if-changed=c/testsdk.h");
    println!("cargo:rerun-if-changed=build.rs");
    cc::Build::new()
        .file("c/testsdk.c")
        .include("c")
        .std("c11")
        .flag("-Wall")
        .flag("-Wextra")
        .flag("-pthread")
        .warnings_into_errors(true)
        .compile("testsdk");
    println!("cargo:rustc-link-lib=pthread");
}
