//! The `hivelog` command line. `serve` runs the server; later subcommands
//! are clients of its HTTP API.

mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{LogFormat, ServeConfig};

#[derive(Debug, Parser)]
#[command(
    name = "hivelog",
    version,
    about = "Coordinate a team of software agents on one machine: task queue, agent registry, messages and a JetStream-style log, in one binary."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (HTTP API on 127.0.0.1:8001 by default).
    Serve(ServeConfig),
}

/// Parses the command line and runs the chosen command.
pub fn run() -> ExitCode {
    if let Err(e) = apply_config_file() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(config) => {
            init_tracing(config.log_format, &config.log_level);
            serve::run(config)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
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
