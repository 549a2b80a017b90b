//! Compiles `proto/*.proto` with the pure-Rust `protox` compiler (no system
//! `protoc` needed), then generates prost types and pbjson serde impls so the
//! same messages speak protobuf and proto3 JSON.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let file = proto_dir.join("ferry.proto");
    println!("cargo:rerun-if-changed={}", file.display());

    let fds = protox::compile([&file], [&proto_dir])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);

    let mut config = prost_build::Config::new();
    // Shared payloads (pushed bytes) are `Bytes` so they can be cloned cheaply.
    config.bytes(["."]);
    config.compile_fds(fds.clone())?;

    // Also kept for the server, which derives the JSON schemas of the HTTP
    // API's proto3-JSON bodies from it (see `FILE_DESCRIPTOR_SET`).
    let descriptor_bytes = prost::Message::encode_to_vec(&fds);
    std::fs::write(out.join("ferry_descriptor.bin"), &descriptor_bytes)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptor_bytes)?
        .out_dir(&out)
        // Newer clients may send fields this server does not know yet.
        .ignore_unknown_fields()
        .build(&[".ferry.v1"])?;
    Ok(())
}
