//! `burgee login|logout|whoami|setup|users|teams|roles|grants|tokens`.

use anyhow::{Context as _, bail};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, Connection, Output, pick, print};
use super::profile::{self, Profile};
use crate::secrets::Secret;

/// Reads a secret: the first line of stdin (a pipe), or typed without echo at a terminal.
fn read_secret(prompt: &str) -> anyhow::Result<Secret> {
    use std::io::{BufRead as _, IsTerminal as _};
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    if terminal {
        eprint!("{prompt}: ");
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if terminal {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    read?;
    let secret = line.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        bail!("no {prompt} given (pipe it on stdin or type it)");
    }
    Ok(Secret::new(secret))
}

pub fn login(connection: &Connection, email: &str) -> anyhow::Result<()> {
    // Refused before a password is asked for, when it would travel in the clear.
    let client = Client::for_secrets(connection)?;
    let password = read_secret("password")?;
    let answer = client.call(
        Method::POST,
        "/admin/v1/auth/login",
        Some(&json!({"email": email, "password": password.expose(), "session": "token"})),
    )?;
    let token = answer["token"]
        .as_str()
        .context("the server sent no token")?;
    let path = profile::save(&Profile {
        url: client.base().to_owned(),
        token: Secret::new(token),
    })?;
    eprintln!(
        "signed in to {} as {email} until {} (saved in {})",
        client.base(),
        answer["expires_at"].as_str().unwrap_or("?"),
        path.display()
    );
    if answer["must_change_password"] == json!(true) {
        eprintln!("choose your own password now: burgee password");
    }
    Ok(())
}

pub fn logout(connection: &Connection) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    client.call(Method::POST, "/admin/v1/auth/logout", None)?;
    profile::remove()?;
    eprintln!("signed out");
    Ok(())
}

pub fn whoami(connection: &Connection) -> anyhow::Result<()> {
    let me = Client::new(connection)?.get("/admin/v1/auth/whoami")?;
    match connection.output {
        Output::Json => println!("{me}"),
        Output::Table => {
            let who = me["user"]["email"]
                .as_str()
                .or(me["token"]["name"].as_str())
                .unwrap_or("the local admin socket");
            println!(
                "{} ({})",
                super::client::printable(who),
                me["kind"].as_str().unwrap_or("?")
            );
            println!(
                "organisation permissions: {}",
                me["permissions"]["organisation"]
            );
            for scope in ["projects", "environments"] {
                for grant in me["permissions"][scope].as_array().into_iter().flatten() {
                    println!(
                        "{scope} {}: {}",
                        grant["project_id"]
                            .as_u64()
                            .or(grant["environment_id"].as_u64())
                            .unwrap_or(0),
                        grant["permissions"]
                    );
                }
            }
        }
    }
    Ok(())
}

pub fn password(connection: &Connection) -> anyhow::Result<()> {
    let current = read_secret("current password")?;
    let new = read_secret("new password")?;
    Client::new(connection)?.call(
        Method::POST,
        "/admin/v1/auth/password",
        Some(&json!({"current_password": current.expose(), "new_password": new.expose()})),
    )?;
    eprintln!("password changed; your other sessions ended");
    Ok(())
}

pub fn setup(
    connection: &Connection,
    setup_token_file: Option<&std::path::Path>,
    email: &str,
    name: &str,
) -> anyhow::Result<()> {
    let file = setup_token_file.map_or_else(
        || connection.data_dir().join(crate::server::SETUP_TOKEN_FILE),
        std::path::Path::to_path_buf,
    );
    let token = Secret::from_file(&file)
        .with_context(|| format!("reading the setup token from {}", file.display()))?;
    let password = read_secret("password for the first admin")?;
    let user = Client::for_secrets(connection)?.call(Method::POST, "/admin/v1/setup", Some(&json!({"setup_token": token.expose(), "email": email, "name": name, "password": password.expose()})))?;
    eprintln!(
        "created the first admin user {}; sign in with: burgee login --url {} {email}",
        user["email"].as_str().unwrap_or(email),
        connection.base_url()
    );
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user: with --password-stdin an initial password they must change, else an
    /// invitation (its token is printed once).
    Create {
        email: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        password_stdin: bool,
    },
    List,
    /// Rename, deactivate (their sessions and tokens stop at once) or reactivate.
    Update {
        user: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, conflicts_with = "activate")]
        deactivate: bool,
        #[arg(long)]
        activate: bool,
    },
    Delete {
        user: String,
    },
    /// A new invitation, or with --password-stdin a new initial password.
    ResetPassword {
        user: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

fn user_id(client: &Client, user: &str) -> anyhow::Result<Value> {
    let users = client.all("/admin/v1/users")?;
    if let Some(found) = users.iter().find(|u| {
        u["email"]
            .as_str()
            .is_some_and(|e| e.eq_ignore_ascii_case(user))
    }) {
        return Ok(found["id"].clone());
    }
    Ok(pick(&users, "user", user)?["id"].clone())
}

const USER_COLUMNS: &[&str] = &[
    "id",
    "email",
    "name",
    "active",
    "must_change_password",
    "invite_pending",
];

fn show_invite(output: Output, answer: &Value) {
    if output == Output::Table && answer["invite"].is_object() {
        println!(
            "invitation token (shown once; expires {}): {}",
            answer["invite"]["expires_at"].as_str().unwrap_or("?"),
            answer["invite"]["token"].as_str().unwrap_or_default()
        );
    }
}

pub fn users(connection: &Connection, command: &UsersCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let output = connection.output;
    match command {
        UsersCommand::Create {
            email,
            name,
            admin,
            password_stdin,
        } => {
            let mut body = json!({"email": email, "name": name.clone().unwrap_or_else(|| email.split('@').next().unwrap_or(email).to_owned()), "admin": admin});
            if *password_stdin {
                body["password"] = json!(read_secret("initial password")?.expose());
            }
            let user = client.call(Method::POST, "/admin/v1/users", Some(&body))?;
            print(output, &user, USER_COLUMNS, std::slice::from_ref(&user));
            show_invite(output, &user);
        }
        UsersCommand::List => {
            let users = client.all("/admin/v1/users")?;
            print(output, &json!(users), USER_COLUMNS, &users);
        }
        UsersCommand::Update {
            user,
            name,
            deactivate,
            activate,
        } => {
            let id = user_id(&client, user)?;
            let mut body = json!({});
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            if *deactivate || *activate {
                body["active"] = json!(*activate);
            }
            let user = client.call(Method::PATCH, &format!("/admin/v1/users/{id}"), Some(&body))?;
            print(output, &user, USER_COLUMNS, std::slice::from_ref(&user));
        }
        UsersCommand::Delete { user } => {
            let id = user_id(&client, user)?;
            client.call(Method::DELETE, &format!("/admin/v1/users/{id}"), None)?;
        }
        UsersCommand::ResetPassword {
            user,
            password_stdin,
        } => {
            let id = user_id(&client, user)?;
            let mut body = json!({});
            if *password_stdin {
                body["password"] = json!(read_secret("new initial password")?.expose());
            }
            let user = client.call(
                Method::POST,
                &format!("/admin/v1/users/{id}/reset-password"),
                Some(&body),
            )?;
            print(output, &user, USER_COLUMNS, std::slice::from_ref(&user));
            show_invite(output, &user);
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum TeamsCommand {
    Create { name: String },
    List,
    Rename { team: String, name: String },
    Delete { team: String },
    AddMember { team: String, user: String },
    RemoveMember { team: String, user: String },
}

fn team_id(client: &Client, team: &str) -> anyhow::Result<Value> {
    Ok(pick(&client.all("/admin/v1/teams")?, "team", team)?["id"].clone())
}

pub fn teams(connection: &Connection, command: &TeamsCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let columns = &["id", "name", "members"];
    let answer = match command {
        TeamsCommand::Create { name } => client.call(
            Method::POST,
            "/admin/v1/teams",
            Some(&json!({"name": name})),
        )?,
        TeamsCommand::List => {
            let teams = client.all("/admin/v1/teams")?;
            print(connection.output, &json!(teams), columns, &teams);
            return Ok(());
        }
        TeamsCommand::Rename { team, name } => {
            let id = team_id(&client, team)?;
            client.call(
                Method::PATCH,
                &format!("/admin/v1/teams/{id}"),
                Some(&json!({"name": name})),
            )?
        }
        TeamsCommand::Delete { team } => {
            let id = team_id(&client, team)?;
            client.call(Method::DELETE, &format!("/admin/v1/teams/{id}"), None)?;
            return Ok(());
        }
        TeamsCommand::AddMember { team, user } => {
            let (id, user) = (team_id(&client, team)?, user_id(&client, user)?);
            client.call(
                Method::PUT,
                &format!("/admin/v1/teams/{id}/members/{user}"),
                None,
            )?
        }
        TeamsCommand::RemoveMember { team, user } => {
            let (id, user) = (team_id(&client, team)?, user_id(&client, user)?);
            client.call(
                Method::DELETE,
                &format!("/admin/v1/teams/{id}/members/{user}"),
                None,
            )?;
            return Ok(());
        }
    };
    print(
        connection.output,
        &answer,
        columns,
        std::slice::from_ref(&answer),
    );
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Built-in and custom roles.
    List,
    /// Every permission key.
    Permissions,
    /// A custom role: a named set of permissions.
    Create {
        name: String,
        #[arg(long, value_delimiter = ',', required = true)]
        permissions: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    Delete {
        role: String,
    },
}

pub fn roles(connection: &Connection, command: &RolesCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    match command {
        RolesCommand::List => {
            let roles = client.get("/admin/v1/roles")?;
            let items = roles["items"].as_array().cloned().unwrap_or_default();
            print(
                connection.output,
                &roles,
                &["id", "name", "builtin", "permissions"],
                &items,
            );
        }
        RolesCommand::Permissions => {
            let all = client.get("/admin/v1/permissions")?;
            let items = all["items"].as_array().cloned().unwrap_or_default();
            print(
                connection.output,
                &all,
                &["key", "level", "description"],
                &items,
            );
        }
        RolesCommand::Create {
            name,
            permissions,
            description,
        } => {
            let role = client.call(
                Method::POST,
                "/admin/v1/roles",
                Some(
                    &json!({"name": name, "permissions": permissions, "description": description}),
                ),
            )?;
            print(
                connection.output,
                &role,
                &["id", "name", "permissions"],
                std::slice::from_ref(&role),
            );
        }
        RolesCommand::Delete { role } => {
            let roles = client.get("/admin/v1/roles")?;
            let items = roles["items"].as_array().cloned().unwrap_or_default();
            let id = pick(&items, "role", role)?["id"].clone();
            client.call(
                Method::DELETE,
                &format!(
                    "/admin/v1/roles/{}",
                    id.as_str().map_or_else(|| id.to_string(), str::to_owned)
                ),
                None,
            )?;
        }
    }
    Ok(())
}

/// Where a grant or token applies, as the CLI names it.
#[derive(Debug, clap::Args)]
pub struct ScopeArgs {
    /// A project, by name or id.
    #[arg(long)]
    project: Option<String>,
    /// An environment, by client key.
    #[arg(long, conflicts_with = "project")]
    environment: Option<String>,
}

impl ScopeArgs {
    fn fill(&self, client: &Client, body: &mut Value) -> anyhow::Result<()> {
        if let Some(project) = &self.project {
            body["project_id"] = client.project(project)?["id"].clone();
        }
        if let Some(environment) = &self.environment {
            body["environment_id"] = client.environment(environment)?["id"].clone();
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    List {
        #[arg(long)]
        user: Option<String>,
        #[arg(long, conflicts_with = "user")]
        team: Option<String>,
    },
    /// Give a role to a user or a team, on the organisation (default), a project or an
    /// environment.
    Create {
        #[arg(long)]
        user: Option<String>,
        #[arg(long, conflicts_with = "user")]
        team: Option<String>,
        #[arg(long)]
        role: String,
        #[command(flatten)]
        scope: ScopeArgs,
    },
    Delete {
        id: u32,
    },
}

pub fn grants(connection: &Connection, command: &GrantsCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let columns = &[
        "id",
        "user_id",
        "team_id",
        "role",
        "scope",
        "project_id",
        "environment_id",
    ];
    match command {
        GrantsCommand::List { user, team } => {
            let query = match (user, team) {
                (Some(u), _) => format!("?user_id={}", user_id(&client, u)?),
                (_, Some(t)) => format!("?team_id={}", team_id(&client, t)?),
                _ => String::new(),
            };
            let grants = client.all(&format!("/admin/v1/grants{query}"))?;
            print(connection.output, &json!(grants), columns, &grants);
        }
        GrantsCommand::Create {
            user,
            team,
            role,
            scope,
        } => {
            let mut body = json!({"role": role});
            match (user, team) {
                (Some(u), None) => body["user_id"] = user_id(&client, u)?,
                (None, Some(t)) => body["team_id"] = team_id(&client, t)?,
                _ => bail!("give --user or --team"),
            }
            scope.fill(&client, &mut body)?;
            let grant = client.call(Method::POST, "/admin/v1/grants", Some(&body))?;
            print(
                connection.output,
                &grant,
                columns,
                std::slice::from_ref(&grant),
            );
        }
        GrantsCommand::Delete { id } => {
            client.call(Method::DELETE, &format!("/admin/v1/grants/{id}"), None)?;
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// An API token with a role (or permissions) at a scope; the secret is printed once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, required_unless_present = "permissions")]
        role: Option<String>,
        #[arg(long, value_delimiter = ',', conflicts_with = "role")]
        permissions: Option<Vec<String>>,
        #[command(flatten)]
        scope: ScopeArgs,
        /// e.g. 30d, 12h.
        #[arg(long)]
        expires_in: Option<String>,
        /// A personal token with your own permissions instead.
        #[arg(long, conflicts_with_all = ["role", "permissions"])]
        personal: bool,
    },
    List {
        #[arg(long)]
        personal: bool,
    },
    Revoke {
        id: u32,
        #[arg(long)]
        personal: bool,
    },
    /// A new secret; the old one keeps working for --grace (default: it stops now).
    Rotate {
        id: u32,
        #[arg(long)]
        grace: Option<String>,
    },
}

pub fn tokens(connection: &Connection, command: &TokensCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let columns = &[
        "id",
        "name",
        "prefix",
        "personal",
        "expires_at",
        "last_used_at",
    ];
    let base = |personal: bool| {
        if personal {
            "/admin/v1/auth/tokens"
        } else {
            "/admin/v1/tokens"
        }
    };
    let shown = |token: &Value| match connection.output {
        Output::Json => println!("{token}"),
        Output::Table => println!("{}", token["token"].as_str().unwrap_or_default()),
    };
    match command {
        TokensCommand::Create {
            name,
            role,
            permissions,
            scope,
            expires_in,
            personal,
        } => {
            let mut body = json!({"name": name});
            if let Some(expires_in) = expires_in {
                body["expires_in"] = json!(expires_in);
            }
            if !personal {
                match (role, permissions) {
                    (Some(role), _) => body["role"] = json!(role),
                    (None, Some(list)) => body["permissions"] = json!(list),
                    (None, None) => bail!("give --role or --permissions"),
                }
                scope.fill(&client, &mut body)?;
            }
            shown(&client.call(Method::POST, base(*personal), Some(&body))?);
        }
        TokensCommand::List { personal } => {
            let tokens = client.all(base(*personal))?;
            print(connection.output, &json!(tokens), columns, &tokens);
        }
        TokensCommand::Revoke { id, personal } => {
            client.call(Method::DELETE, &format!("{}/{id}", base(*personal)), None)?;
        }
        TokensCommand::Rotate { id, grace } => {
            let body = grace
                .as_ref()
                .map_or_else(|| json!({}), |g| json!({"grace": g}));
            shown(&client.call(
                Method::POST,
                &format!("/admin/v1/tokens/{id}/rotate"),
                Some(&body),
            )?);
        }
    }
    Ok(())
}
