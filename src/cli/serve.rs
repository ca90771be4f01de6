//! `hivelog serve`: open the log, make sure the default stream exists,
//! serve HTTP until SIGINT/SIGTERM, then finish in-flight work and flush.

use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::config::ServeConfig;
use crate::log::{Log, LogError, StreamConfig};

/// The stream the replaced stack used, with its 7-day retention.
pub const DEFAULT_STREAM: &str = "MJ_ONLINE_WORK";
pub const DEFAULT_SUBJECTS: &str = "mjwork.>";
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn run(config: ServeConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hivelog")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let log = Log::open(&config.data_dir, config.log_options())
        .with_context(|| format!("cannot open data directory {}", config.data_dir.display()))?;
    ensure_default_stream(&log)?;

    let (stop_jobs, jobs_stopped) = watch::channel(false);
    let sweeper = log.start_sweeper(config.sweep_interval, jobs_stopped);

    // Build every route before the first connection is accepted.
    let app = api::router(AppState { log: log.clone() });
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr().context("no local address")?;
    tracing::info!(
        data_dir = %config.data_dir.display(),
        sync = ?config.sync,
        "hivelog {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION")
    );

    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown::signal())
        .await
        .context("server error")?;

    // In-flight requests have finished; stop background jobs, then make
    // everything durable before exiting.
    let _ = stop_jobs.send(true);
    if let Err(e) = sweeper.await {
        tracing::warn!(error = %e, "sweeper ended abnormally");
    }
    log.close().context("final flush failed")?;
    tracing::info!("shut down cleanly");
    Ok(())
}

fn ensure_default_stream(log: &Log) -> anyhow::Result<()> {
    match log.stream_info(DEFAULT_STREAM) {
        Ok(_) => Ok(()),
        Err(LogError::StreamNotFound(_)) => {
            let mut config = StreamConfig::new(DEFAULT_STREAM, &[DEFAULT_SUBJECTS]);
            config.max_age = Some(DEFAULT_MAX_AGE);
            config.description =
                Some("hivelog's default stream: tasks, coordination, errors, heartbeats".into());
            log.create_stream(config)
                .context("cannot create the default stream")?;
            Ok(())
        }
        Err(e) => Err(e).context("cannot read the default stream"),
    }
}
