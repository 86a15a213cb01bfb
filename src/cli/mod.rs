//! The command line: `burgee <command>`.

mod evaluate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Burgee: feature flags and remote config in one binary.
#[derive(Debug, Parser)]
#[command(name = "burgee", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate flags locally from evaluation contexts or an environment document.
    Evaluate(evaluate::EvaluateArgs),
}

/// Parses the command line and runs the command; errors go to stderr.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Evaluate(args) => evaluate::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("burgee: {error:#}");
            ExitCode::from(2)
        }
    }
}
