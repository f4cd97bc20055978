//! Compiles every `.proto` file under `proto/` with protox, a pure-Rust protobuf
//! compiler, so a fresh machine needs no system `protoc`.

#[cfg(feature = "wire")]
use std::path::PathBuf;

/// Without the `wire` feature there is nothing to compile: the HTTP API types are plain
/// Rust.
#[cfg(not(feature = "wire"))]
fn main() {}

#[cfg(feature = "wire")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from("proto");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .collect();
    files.sort();
    println!("cargo:rerun-if-changed=proto");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [&dir])?;
    let mut cfg = prost_build::Config::new();
    // Byte fields stay `Vec<u8>`; `bytes::Bytes` would add a dependency for no gain here.
    cfg.compile_fds(fds)?;
    Ok(())
}
