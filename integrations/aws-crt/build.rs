//! Checks the hand-written declarations of `aws/http/websocket.h` (src/websocket.rs)
//! against the C compiler: compiles and runs build/ws_layout.c against the headers that
//! mountpoint-s3-crt-sys installed (it exports no include path, so they are looked up
//! next to this crate's build directory), writes the sizes and offsets to
//! `$OUT_DIR/ws_layout.rs` and sets `cfg(ws_layout_checked)`; src/websocket.rs then
//! asserts its structs against them at compile time. When the headers are not there yet
//! (the sys crate's build script may run after this one), or when cross-compiling, the
//! check is skipped with a warning and this script re-runs on the next build; the
//! hand-written LP64 asserts in src/websocket.rs hold in every case.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const HEADER: &str = "out/target/include/aws/http/websocket.h";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ws_layout_checked)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build/ws_layout.c");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    if env::var("TARGET").ok() != env::var("HOST").ok() {
        println!("cargo::warning=websocket layout check skipped: cross-compiling");
        return;
    }
    let Some(include) = find_include(&out) else {
        println!(
            "cargo::warning=websocket layout check skipped: the CRT's installed headers are not \
             built yet (it will run on the next build)"
        );
        // A path that does not exist: Cargo re-runs this script on every build until found.
        println!(
            "cargo::rerun-if-changed={}",
            out.join("ws-headers-missing").display()
        );
        return;
    };
    println!(
        "cargo::rerun-if-changed={}",
        include.join("aws/http/websocket.h").display()
    );
    let exe = out.join("ws_layout");
    let compiler = env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&compiler)
        .arg("-I")
        .arg(&include)
        .arg("build/ws_layout.c")
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap_or_else(|e| panic!("running {compiler}: {e}"));
    assert!(status.success(), "compiling build/ws_layout.c failed");
    let output = Command::new(&exe).output().expect("running ws_layout");
    assert!(output.status.success(), "ws_layout failed");
    std::fs::write(out.join("ws_layout.rs"), &output.stdout).expect("writing ws_layout.rs");
    println!("cargo::rustc-cfg=ws_layout_checked");
}

/// The newest `target/<profile>/build/mountpoint-s3-crt-sys-*/out/target/include`.
fn find_include(out: &Path) -> Option<PathBuf> {
    // OUT_DIR is target/<profile>/build/anywait-aws-crt-<hash>/out.
    let build = out.parent()?.parent()?;
    std::fs::read_dir(build)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("mountpoint-s3-crt-sys-")
        })
        .filter_map(|entry| {
            let header = entry.path().join(HEADER);
            let modified = header.metadata().ok()?.modified().ok()?;
            Some((modified, entry.path().join("out/target/include")))
        })
        .max()
        .map(|(_, include)| include)
}
