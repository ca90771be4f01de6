//! The `hivelog` command line. `serve` runs the server; every other
//! command is a client of a running server's HTTP and WebSocket API.

mod agents;
mod backend;
mod bench;
mod client;
mod consumers;
mod error;
mod import;
mod import_jetstream;
mod inbox;
mod mcp;
mod migrate;
mod output;
mod paths;
mod projects;
mod pubsub;
mod serve;
mod setup;
mod slots;
mod status;
mod streams;
mod tasks;
mod tls;
mod tokens;
mod work;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{LogFormat, ServeConfig};
use client::{CliError, Client};
use output::Out;

#[derive(Debug, Parser)]
#[command(
    name = "hivelog",
    version,
    about = "Coordinate a team of software agents on one machine: task queue, agent registry, messages and a JetStream-style log, in one binary.",
    after_help = "Start with `hivelog serve`, open http://127.0.0.1:8001/, then try `hivelog status`.\nEvery command has --help; every client command takes --json for scripts."
)]
pub struct Cli {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    command: Command,
}

/// How a client command reaches the server and prints its answer.
#[derive(Debug, Clone, Args)]
pub struct Conn {
    /// The server to talk to.
    #[arg(
        long,
        global = true,
        env = "HIVELOG_SERVER",
        default_value = "http://127.0.0.1:8001",
        value_name = "URL"
    )]
    server: String,
    /// Sent as `Authorization: Bearer <token>` (the server checks it when it was started with one).
    #[arg(
        long,
        global = true,
        env = "HIVELOG_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
    /// A file holding the token (its first line), when neither --token nor HIVELOG_TOKEN gives one. Without any of them, the token `hivelog setup --token` saved for this server is used.
    #[arg(long, global = true, env = "HIVELOG_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
    /// A PEM certificate to trust besides the system's, for an https:// server with a self-signed or private-CA certificate.
    #[arg(long, global = true, env = "HIVELOG_CA_CERT", value_name = "FILE")]
    ca_cert: Option<std::path::PathBuf>,
    /// The project (one repository: its tasks, agents, reservations and messages) this command is about. Without it: the one `hivelog setup` recorded for the git repository you are in (`git config hivelog.project`), else the server's default project.
    #[arg(long, global = true, env = "HIVELOG_PROJECT", value_name = "NAME")]
    project: Option<String>,
    /// The repository the project was derived from, recorded with a new project (`hivelog projects` shows it).
    #[arg(
        long,
        global = true,
        env = "HIVELOG_REPOSITORY",
        value_name = "REPO",
        hide = true
    )]
    repository: Option<String>,
    /// Print the server's JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    json: bool,
    /// Where `server` came from, to name it in errors.
    #[arg(skip = "--server")]
    server_origin: &'static str,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (HTTP API, WebSocket and dashboard on 127.0.0.1:8001 by default).
    Serve(Box<ServeConfig>),
    /// Publish a message to a subject.
    Pub(pubsub::PubArgs),
    /// Follow a subject pattern live, one line per message.
    Sub(pubsub::SubArgs),
    /// List, inspect, create, delete and purge streams.
    #[command(subcommand)]
    Stream(streams::StreamCmd),
    /// List, inspect, create and delete pull consumers; fetch from them.
    #[command(subcommand)]
    Consumer(consumers::ConsumerCmd),
    /// Add, list, show, claim, complete, fail, release, cancel and import tasks.
    #[command(subcommand)]
    Task(tasks::TaskCmd),
    /// Agents with their health, current task and approval requests.
    Agents(agents::AgentsArgs),
    /// Send to and read message channels (coordination, errors, ...).
    #[command(subcommand)]
    Msg(agents::MsgCmd),
    /// File reservations: check paths (for a pre-commit hook), list, add, release.
    #[command(subcommand)]
    Reservations(work::ReservationsCmd),
    /// Named counting semaphores (e.g. `build` with 2 permits): ls, set, acquire, release.
    #[command(subcommand)]
    Slot(slots::SlotCmd),
    /// Stop granting tasks to every agent of the project until `hivelog resume` (--all: in every project).
    Pause {
        #[arg(long)]
        reason: Option<String>,
        /// The machine's switch: every project at once.
        #[arg(long)]
        all: bool,
    },
    /// Grant tasks again after `hivelog pause` (--all: undo `pause --all`).
    Resume {
        /// The machine's switch.
        #[arg(long)]
        all: bool,
    },
    /// Every project (repository) the server serves: its repository, agents and tasks by status.
    Projects,
    /// Block until something new arrives in an agent's inbox; print one line per item (exit 0; 1 on timeout, 3 when the server is unreachable).
    Wait(inbox::WaitArgs),
    /// Print an agent's unread inbox (messages that mention it, handoffs to it); for harness hooks.
    Inbox {
        #[arg(long, env = "HIVELOG_AGENT", value_name = "AGENT_ID")]
        agent: String,
        /// Mark what was printed as read.
        #[arg(long)]
        ack: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: inbox::InboxFormat,
    },
    /// Plug hivelog into an agent harness: MCP config, inbox hooks and instructions, inside the project.
    Setup(setup::SetupArgs),
    /// Serve the MCP tools over stdio for an agent harness (forwards to the server's /mcp).
    Mcp(mcp::McpArgs),
    /// Build hivelog's tasks from the stream the replaced NATS + FastAPI stack wrote (newest version of each task wins), and copy its messages. Stop `serve` first.
    #[command(name = "import-jetstream")]
    ImportJetStream(import_jetstream::ImportJetStreamArgs),
    /// Move tasks, agents, messages and consumers between a data directory and a NATS JetStream server or cluster, either way. Stop `serve` first.
    Migrate(migrate::MigrateArgs),
    /// Measure hivelog on this machine (publish, fetch+ack, claim) and, with --compare, a nats-server beside it in the same run.
    Bench(bench::BenchArgs),
    /// One screen: server version, uptime, streams, agents by health, tasks by status.
    Status,
    /// Print a shell completion script (e.g. `hivelog completions bash > ~/.local/share/bash-completion/completions/hivelog`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Conn {
    /// The token to send: `--token`/HIVELOG_TOKEN, else the first line of
    /// `--token-file`/HIVELOG_TOKEN_FILE, else the one `hivelog setup`
    /// saved for this server (`tokens.rs`).
    fn token(&self) -> Result<Option<String>, CliError> {
        if let Some(t) = self.token.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(t.clone()));
        }
        if let Some(path) = &self.token_file {
            return tokens::read(path);
        }
        match tokens::saved_path(&self.server) {
            Ok(path) if path.is_file() => tokens::read(&path),
            _ => Ok(None),
        }
    }

    /// The project this command is about: `--project`/HIVELOG_PROJECT,
    /// else the one `hivelog setup` recorded for the repository the
    /// command runs in, else none (the server's default project).
    fn project(&self) -> Option<String> {
        self.project.clone().or_else(paths::configured_project)
    }

    /// A client of the server this command talks to.
    fn client(&self) -> Result<Client, CliError> {
        let project = self.project();
        if let Some(p) = &project {
            crate::coord::project::validate_project(p)
                .map_err(|e| CliError::input(format!("--project (HIVELOG_PROJECT): {e}")))?;
        }
        // Recorded as given where a header can carry it; a path a header
        // cannot (not ASCII) is left out rather than failing every call.
        let repository = self
            .repository
            .as_deref()
            .filter(|r| r.bytes().all(|b| b.is_ascii_graphic() || b == b' '));
        Ok(Client::new(
            &self.server,
            self.server_origin,
            self.token()?,
            self.ca_cert.as_deref(),
        )?
        .in_project(project.as_deref(), repository))
    }
}

/// Parses the command line and runs the chosen command.
pub fn run() -> ExitCode {
    if let Err(e) = apply_config_file() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let mut cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if matches.value_source("server") == Some(clap::parser::ValueSource::EnvVariable) {
        cli.conn.server_origin = "HIVELOG_SERVER";
    }
    match cli.command {
        Command::Serve(config) => {
            init_tracing(config.log_format, &config.log_level);
            match serve::run(*config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut command = Cli::command();
            // Into memory first: clap_complete panics on a failed write,
            // and stdout may be a closed pipe.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "hivelog", &mut script);
            use std::io::Write;
            let _ = std::io::stdout().lock().write_all(&script);
            ExitCode::SUCCESS
        }
        Command::Setup(args) => match setup::run(&cli.conn, args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::ImportJetStream(args) => offline(import_jetstream::import_jetstream(args)),
        Command::Migrate(args) => offline(migrate::migrate(args)),
        Command::Bench(args) => offline(bench::run(args)),
        Command::Mcp(args) => {
            let conn = cli.conn.clone();
            let result = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| CliError::Protocol(format!("cannot start the async runtime: {e}")))
                .and_then(|rt| rt.block_on(mcp::run(&conn, args)));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        command => run_client(&cli.conn, command),
    }
}

/// Runs a command that opens stores itself (no server) to its end.
fn offline(job: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    init_tracing(LogFormat::Pretty, "warn");
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(job));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one client command on a small single-threaded runtime; errors are
/// printed as one `error:` line (the server's `detail` when it sent one).
fn run_client(conn: &Conn, command: Command) -> ExitCode {
    // `wait` runs in hook loops, which need its failures told apart.
    let is_wait = matches!(command, Command::Wait(_));
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Protocol(format!("cannot start the async runtime: {e}")))
        .and_then(|runtime| {
            let client = conn.client()?;
            let out = Out::new(conn.json);
            runtime.block_on(dispatch(&client, out, command))
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ CliError::Interrupted(_)) => {
            eprintln!("{e}");
            ExitCode::from(130)
        }
        Err(e) if is_wait => {
            match &e {
                CliError::CheckFailed(why) => eprintln!("{why}"),
                other => eprintln!("error: {other}"),
            }
            ExitCode::from(inbox::wait_exit_code(&e))
        }
        Err(CliError::CheckFailed(why)) => {
            eprintln!("{why}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(client: &Client, out: Out, command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve(_) | Command::Completions { .. } => Ok(()),
        Command::Pub(args) => pubsub::publish(client, out, args).await,
        Command::Sub(args) => pubsub::subscribe(client, out, args).await,
        Command::Stream(cmd) => streams::stream(client, out, cmd).await,
        Command::Consumer(cmd) => consumers::consumer(client, out, cmd).await,
        Command::Task(cmd) => tasks::run(client, out, cmd).await,
        Command::Agents(args) => agents::list(client, out, args).await,
        Command::Msg(cmd) => agents::msg(client, out, cmd).await,
        Command::Status => status::run(client, out).await,
        Command::Mcp(_) | Command::ImportJetStream(_) | Command::Migrate(_) | Command::Bench(_) => {
            Ok(())
        }
        Command::Reservations(cmd) => work::reservations(client, out, cmd).await,
        Command::Slot(cmd) => slots::run(client, out, cmd).await,
        Command::Inbox { agent, ack, format } => {
            inbox::inbox(client, out, &agent, ack, format).await
        }
        Command::Setup(_) => Ok(()),
        Command::Pause { reason, all } => work::set_paused(client, out, true, reason, all).await,
        Command::Resume { all } => work::set_paused(client, out, false, None, all).await,
        Command::Projects => projects::list(client, out).await,
        Command::Wait(args) => inbox::wait(client, out, args).await,
    }
}
/// Makes the settings of `--config FILE` (or HIVELOG_CONFIG) visible as
/// HIVELOG_* environment variables, unless the environment already sets
/// them. Clap then applies flag > env > file > default by itself.
fn apply_config_file() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args
        .iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix("--config=") {
            Some(path) => Some(path.to_string()),
            None if a == "--config" => args.get(i + 1).cloned(),
            None => None,
        });
    let Some(path) = from_args.or_else(|| std::env::var("HIVELOG_CONFIG").ok()) else {
        return Ok(());
    };
    for (key, value) in crate::config::file_settings(std::path::Path::new(&path))? {
        if std::env::var_os(&key).is_none() {
            // SAFETY: called first thing in `run`, before any other thread
            // exists, so nothing reads the environment concurrently.
            unsafe { std::env::set_var(&key, value) };
        }
    }
    Ok(())
}

fn init_tracing(format: LogFormat, level: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(level).unwrap_or_else(|e| {
        eprintln!("warning: --log-level {level:?} is not a valid filter ({e}); using info");
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => {
            // Colour only on a terminal, and never with NO_COLOR.
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(colour).init()
        }
    }
}
