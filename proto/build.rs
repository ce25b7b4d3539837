//! Compiles `ivr/v1/*.proto` with protox (pure Rust, no system `protoc`) and generates the
//! prost messages and tonic clients and servers into `OUT_DIR/ivr.v1.rs`. The encoded file
//! descriptor set goes to `OUT_DIR/ivr_v1_descriptor.bin` for gRPC reflection.

use std::path::PathBuf;

use prost::Message as _;

const PROTOS: &[&str] = &[
    "ivr/v1/common.proto",
    "ivr/v1/agent.proto",
    "ivr/v1/supervisor.proto",
    "ivr/v1/admin.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let fds = protox::compile(PROTOS, ["."])?;
    std::fs::write(out_dir.join("ivr_v1_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
