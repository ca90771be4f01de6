//! The `hivelog` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    hivelog::cli::run()
}
