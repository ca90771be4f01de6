//! `hivelog serve`: open the log and the coordination state (creating the
//! default streams on first start), serve HTTP until SIGINT/SIGTERM, then
//! finish in-flight work and flush.

use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::config::ServeConfig;
use crate::coord::port::LogBackend;
use crate::coord::Coordinator;
use crate::log::Log;

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
    let port = LogBackend::open(log.clone(), &config.subject_prefix)
        .context("cannot create the default streams")?;
    let coord =
        Coordinator::open(port, config.coord_config()).context("cannot load tasks and agents")?;

    let (stop_jobs, jobs_stopped) = watch::channel(false);
    let sweeper = log.start_sweeper(config.sweep_interval, jobs_stopped.clone());
    let reaper = coord.start_reaper(jobs_stopped.clone());

    // Build every route before the first connection is accepted.
    let state = AppState::new(log.clone(), coord, config.ws_config());
    let metrics = api::sysmetrics::start(state.clone(), Duration::from_secs(2), jobs_stopped);
    let app = api::router(state);
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

    // Small frames (acks, live messages) must not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown::signal())
        .await
        .context("server error")?;

    // In-flight requests have finished; stop background jobs, then make
    // everything durable before exiting.
    let _ = stop_jobs.send(true);
    for (name, job) in [
        ("sweeper", sweeper),
        ("reaper", reaper),
        ("metrics", metrics),
    ] {
        if let Err(e) = job.await {
            tracing::warn!(error = %e, "{name} ended abnormally");
        }
    }
    log.close().context("final flush failed")?;
    tracing::info!("shut down cleanly");
    Ok(())
}
