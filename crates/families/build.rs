//! Compiles the small C shim for `long double` arithmetic (see
//! src/util/long_double.c for why it exists).

fn main() {
    println!("cargo:rerun-if-changed=src/util/long_double.c");
    cc::Build::new()
        .file("src/util/long_double.c")
        .warnings(true)
        .compile("redoubt_long_double");
}
