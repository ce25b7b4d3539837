//! Intent matcher throughput.
fn main() {}
