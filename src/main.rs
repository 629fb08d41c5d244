//! The `abridge` binary: everything lives in the library; this only hands over.

fn main() -> std::process::ExitCode {
    abridge::cli::main()
}
