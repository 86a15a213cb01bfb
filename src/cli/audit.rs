//! `burgee audit verify|export`: the audit chain checked online (through the API) or
//! offline (`--offline`, reading the data directory of a stopped server), and any range
//! streamed out as JSON Lines or CSV.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::client::{Client, Connection, Output};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; prints its head (record it elsewhere) and the first bad entry.
    Verify {
        /// Read the data directory (`--data-dir`) directly; the server must be stopped.
        #[arg(long)]
        offline: bool,
    },
    /// Stream entries to stdout, ending with the chain head.
    Export {
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_parser = ["jsonl", "csv"], default_value = "jsonl")]
        format: String,
    },
}

pub fn run(connection: &Connection, command: &AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { offline } => {
            let result = if *offline {
                let path = connection.data_dir().join("state.redb");
                let db = redb::Database::open(&path).with_context(|| {
                    format!("opening {} (is the server stopped?)", path.display())
                })?;
                json!(crate::store::audit::verify(&db)?)
            } else {
                Client::new(connection)?.get("/admin/v1/audit/verify")?["verification"].clone()
            };
            let ok = result["first_bad"].is_null();
            match connection.output {
                Output::Json => println!("{}", json!({"ok": ok, "verification": result})),
                Output::Table => {
                    println!(
                        "entries {} to {} ({} in all)",
                        result["first_seq"], result["last_seq"], result["entries"]
                    );
                    println!(
                        "chain head: {}",
                        result["head"].as_str().unwrap_or_default()
                    );
                    if ok {
                        println!("the chain verifies");
                    } else {
                        println!(
                            "BROKEN at entry {}: {}",
                            result["first_bad"]["seq"],
                            result["first_bad"]["reason"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AuditCommand::Export {
            since,
            until,
            format,
        } => {
            let mut query = format!("?format={format}");
            for (name, value) in [("since", since), ("until", until)] {
                if let Some(value) = value {
                    query.push_str(&format!("&{name}={}", super::client::encode(value)));
                }
            }
            let client = Client::new(connection)?;
            client.download(
                &format!("/admin/v1/audit/export{query}"),
                &mut std::io::stdout().lock(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
