fn main() -> std::process::ExitCode {
    packwatch::cli::main()
}
