//! The command line: `burgee <command>`.

mod access;
mod admin;
mod analytics;
mod audit;
mod backup;
mod client;
mod cluster;
mod diff;
mod edits;
pub use client::ADMIN_SOCKET;
mod evaluate;
mod features;
mod flags;
mod health;
pub mod https;
mod manifest;
mod matrix;
mod migrate;
mod profile;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, ServeArgs, Settings};

/// Burgee: feature flags and remote config in one binary.
#[derive(Debug, Parser)]
#[command(name = "burgee", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Probe a running server's liveness or readiness (exit 0 when healthy): for container
    /// health checks on images without curl.
    Health(health::HealthArgs),
    /// Show the effective configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Evaluate flags locally from evaluation contexts or an environment document.
    Evaluate(evaluate::EvaluateArgs),
    /// Import an environment.
    Import {
        #[command(subcommand)]
        command: admin::ImportCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Check a flags file (no server needed).
    Validate(manifest::FileArgs),
    /// Show what applying a flags file would change, and what the server has that the file
    /// does not mention (drift).
    Plan {
        #[command(flatten)]
        file: manifest::FileArgs,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Make a project match a flags file, in one atomic change.
    Apply {
        #[command(flatten)]
        args: manifest::ApplyArgs,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Export an environment, or a project as a flags file.
    Export {
        #[command(subcommand)]
        command: admin::ExportCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Environment keys.
    Keys {
        #[command(subcommand)]
        command: admin::KeysCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Flag states of an environment.
    Flags {
        #[command(subcommand)]
        command: flags::FlagsCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Projects.
    Projects {
        #[command(subcommand)]
        command: admin::ProjectsCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Environments.
    Environments {
        #[command(subcommand)]
        command: admin::EnvironmentsCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Features.
    Features {
        #[command(subcommand)]
        command: features::FeaturesCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Segments.
    Segments {
        #[command(subcommand)]
        command: admin::SegmentsCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Sign in (the token is saved in the CLI's config file, mode 0600).
    Login {
        /// Your e-mail address; the password is read from stdin or typed.
        email: String,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Sign out (ends the session and forgets it).
    Logout {
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Who you are signed in as, and what you may do.
    Whoami {
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Change your password (current and new, each on a line of stdin or typed).
    Password {
        #[command(flatten)]
        connection: client::Connection,
    },
    /// First start: create the first admin user with the setup token.
    Setup {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Default: `setup-token` in --data-dir.
        #[arg(long)]
        setup_token_file: Option<std::path::PathBuf>,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Users.
    Users {
        #[command(subcommand)]
        command: access::UsersCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Teams.
    Teams {
        #[command(subcommand)]
        command: access::TeamsCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Roles and permissions.
    Roles {
        #[command(subcommand)]
        command: access::RolesCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Grants of roles to users and teams.
    Grants {
        #[command(subcommand)]
        command: access::GrantsCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// API tokens.
    Tokens {
        #[command(subcommand)]
        command: access::TokensCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Back up a running node (online, consistent, checked); `backup verify FILE` checks one.
    Backup {
        #[command(flatten)]
        args: backup::BackupArgs,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Restore a backup offline into a new --data-dir (it starts as a new cluster of one).
    Restore {
        #[command(flatten)]
        args: backup::RestoreArgs,
        #[command(flatten)]
        connection: client::Connection,
    },
    /// Move a whole installation between a data directory and PostgreSQL.
    Migrate(migrate::MigrateArgs),
    /// The Raft cluster.
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
        #[command(flatten)]
        connection: client::Connection,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the settings `burgee serve` would use (secrets redacted), as TOML.
    Print(ServeArgs),
}

/// Parses the command line and runs the command; errors go to stderr.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Config {
            command: ConfigCommand::Print(args),
        } => print_config(&args),
        Command::Evaluate(args) => evaluate::run(&args),
        Command::Health(args) => health::run(&args),
        Command::Migrate(args) => migrate::run(&args),
        Command::Backup { args, connection } => backup::run(&connection, &args),
        Command::Restore { args, connection } => backup::restore(&connection, &args),
        Command::Import {
            command,
            connection,
        } => admin::import(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Export {
            command,
            connection,
        } => admin::export(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Validate(args) => manifest::validate(&args).map(|()| ExitCode::SUCCESS),
        Command::Plan { file, connection } => {
            manifest::plan(&connection, &file).map(|()| ExitCode::SUCCESS)
        }
        Command::Apply { args, connection } => {
            manifest::apply(&connection, &args).map(|()| ExitCode::SUCCESS)
        }
        Command::Keys {
            command,
            connection,
        } => admin::keys(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Flags {
            command,
            connection,
        } => flags::flags(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Projects {
            command,
            connection,
        } => admin::projects(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Environments {
            command,
            connection,
        } => admin::environments(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Features {
            command,
            connection,
        } => features::features(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Segments {
            command,
            connection,
        } => admin::segments(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Login { email, connection } => {
            access::login(&connection, &email).map(|()| ExitCode::SUCCESS)
        }
        Command::Logout { connection } => access::logout(&connection).map(|()| ExitCode::SUCCESS),
        Command::Whoami { connection } => access::whoami(&connection).map(|()| ExitCode::SUCCESS),
        Command::Password { connection } => {
            access::password(&connection).map(|()| ExitCode::SUCCESS)
        }
        Command::Setup {
            email,
            name,
            setup_token_file,
            connection,
        } => access::setup(&connection, setup_token_file.as_deref(), &email, &name)
            .map(|()| ExitCode::SUCCESS),
        Command::Users {
            command,
            connection,
        } => access::users(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Teams {
            command,
            connection,
        } => access::teams(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Roles {
            command,
            connection,
        } => access::roles(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Grants {
            command,
            connection,
        } => access::grants(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Tokens {
            command,
            connection,
        } => access::tokens(&connection, &command).map(|()| ExitCode::SUCCESS),
        Command::Audit {
            command,
            connection,
        } => audit::run(&connection, &command),
        Command::Cluster {
            command,
            connection,
        } => cluster::run(&connection, &command).map(|()| ExitCode::SUCCESS),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("burgee: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(args)?;
    init_logging(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::server::serve(settings))?;
    Ok(ExitCode::SUCCESS)
}

fn print_config(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(args)?;
    print!("{}", toml::to_string(&settings)?);
    Ok(ExitCode::SUCCESS)
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    // Raft's own per-message chatter is debugging detail; elections and faults are logged by
    // Burgee itself at info and above.
    let filter = EnvFilter::try_from_env("BURGEE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,openraft=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}
