use std::process::ExitCode;

fn main() -> ExitCode {
    burgee::cli::run()
}
