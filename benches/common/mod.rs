//! What the benchmarks share.

/// The temporary directory for a benchmark's files: under `$PACKWATCH_BENCH_DIR` when set
/// (to measure on the disk a station would really use), else the system temp dir.
pub fn bench_dir() -> tempfile::TempDir {
    let mut builder = tempfile::Builder::new();
    builder.prefix("packwatch-bench-");
    match std::env::var_os("PACKWATCH_BENCH_DIR") {
        Some(parent) => builder
            .tempdir_in(parent)
            .expect("temp dir under $PACKWATCH_BENCH_DIR"),
        None => builder.tempdir().expect("temp dir"),
    }
}
