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

/// Runs a benchmark's body on tokio's multi-threaded runtime (a station needs it).
pub fn block_on<F: std::future::Future>(body: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(body)
}
