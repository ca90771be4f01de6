//! `hivelog serve`: open the log and the coordination state (creating the
//! default streams on first start), serve HTTP until SIGINT/SIGTERM, then
//! finish in-flight work and flush.

use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::config::ServeConfig;
use crate::coord::{Coordinator, Projects};
use crate::log::Log;
use crate::streams::LogPort;

/// SIGHUP reads the tokens file and the TLS certificate again (rotation
/// without a restart).
async fn reload_on_sighup(
    tokens: std::sync::Arc<api::auth::Tokens>,
    cert: Option<std::sync::Arc<api::tls::Certificate>>,
) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        match tokens.reload() {
            Ok(n) => tracing::info!(tokens = n, "tokens reloaded"),
            Err(e) => tracing::error!("tokens not reloaded, the previous ones stay: {e}"),
        }
        if let Some(cert) = &cert {
            match cert.reload() {
                Ok(()) => tracing::info!("TLS certificate reloaded"),
                Err(e) => {
                    tracing::error!("TLS certificate not reloaded, the previous one stays: {e}")
                }
            }
        }
    }
}

/// Loads coordination state. A NATS cluster that has just started or is
/// moving a stream's leader may not answer for some seconds: wait for it
/// (30 s) rather than fail the start.
async fn load(
    port: crate::streams::Backend,
    config: &ServeConfig,
) -> anyhow::Result<std::sync::Arc<Coordinator<crate::streams::Backend>>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match Coordinator::open(port.clone(), config.coord_config()).await {
            Ok(coord) => return Ok(coord),
            Err(crate::coord::CoordError::Storage(crate::streams::PortError::Unavailable(e)))
                if port.is_shared() && std::time::Instant::now() < deadline =>
            {
                tracing::warn!(error = %e, "cannot load tasks and agents yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(anyhow::Error::new(e).context("cannot load tasks and agents")),
        }
    }
}

pub fn run(config: ServeConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hivelog")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    // The address first: a busy port must fail before a data directory is
    // created or opened. Connections wait in the backlog until the router
    // is built and `axum::serve` accepts them.
    let tokens = std::sync::Arc::new(
        api::auth::Tokens::new(
            config.token.as_deref(),
            config.tokens_file.as_deref(),
            config.strict_agents,
        )
        .map_err(anyhow::Error::msg)?,
    );
    if config.require_token && !tokens.required() {
        anyhow::bail!(
            "--require-token is set but no token is configured: give --token or --tokens-file"
        );
    }
    let cert = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(std::sync::Arc::new(
            api::tls::Certificate::load(cert, key).map_err(anyhow::Error::msg)?,
        )),
        _ => None,
    };
    let acceptor = cert
        .as_ref()
        .map(|c| c.acceptor())
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| listen_error(&config.listen, e))?;
    let log = Log::open(&config.data_dir, config.log_options())
        .with_context(|| format!("cannot open data directory {}", config.data_dir.display()))?;
    let port = super::backend::open(&config.store, &log, &config.subject_prefix).await?;
    let coord = load(port, &config).await?;
    let projects =
        std::sync::Arc::new(Projects::around(coord.clone()).with_max(config.max_projects));
    let opened = projects
        .load()
        .await
        .context("cannot open the recorded projects")?;
    if opened > 0 {
        tracing::info!(projects = opened + 1, "projects opened");
    }

    let (stop_jobs, jobs_stopped) = watch::channel(false);
    let sweeper = log.start_sweeper(config.sweep_interval, jobs_stopped.clone());
    // Every project's reaper; a follower where instances share a NATS
    // store, snapshots for fast starts where they do not.
    projects.start_jobs(jobs_stopped.clone());
    let mut shared_jobs = Vec::new();
    let streams = crate::streams::Streams::new(log.clone(), coord.port().clone());
    if let Some(relay) = streams.start_relay(&config.subject_prefix, jobs_stopped.clone()) {
        shared_jobs.push(("relay", relay));
    }

    // Build every route before the first connection is accepted.
    let addr = listener.local_addr().context("no local address")?;
    if !addr.ip().is_loopback() && !tokens.required() {
        tracing::warn!(%addr, "listening beyond this machine WITHOUT A TOKEN: anyone who can reach it can claim, complete and delete work");
        eprintln!("\n  WARNING: hivelog listens on {addr} without a token. Anyone on this network can read\n  and change every task, agent and stream. Give --token or --tokens-file (and --require-token).\n");
    }
    let reload = tokio::spawn(reload_on_sighup(tokens.clone(), cert));
    let state = AppState::serving(log.clone(), projects.clone(), config.ws_config())
        .with_tokens(tokens)
        .with_limits(config.limits())
        .with_cors_origins(config.cors_origins.clone())
        .listening_on(addr);
    let metrics = api::sysmetrics::start(state.clone(), Duration::from_secs(2), jobs_stopped);
    let ready = state.ready.clone();
    let app = api::router(state);
    tracing::info!(
        data_dir = %config.data_dir.display(),
        sync = ?config.sync,
        "hivelog {} listening on {scheme}://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    print_banner(&config, scheme, addr);

    ready.store(true, std::sync::atomic::Ordering::Release);
    let stopping = async move {
        crate::shutdown::signal().await;
        ready.store(false, std::sync::atomic::Ordering::Release);
    };
    // Client addresses reach the handlers (rate limits, WebSocket counts).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    match acceptor {
        None => {
            // Small frames (acks, live messages) must not wait for Nagle's
            // algorithm.
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                }
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(stopping)
                .await
        }
        Some(acceptor) => {
            // The TLS listener sets TCP_NODELAY itself; `tap_io` is what
            // gives its connections a ConnectInfo<SocketAddr>.
            let listener = api::tls::TlsListener::new(listener, acceptor)
                .context("cannot start TLS")?
                .tap_io(|_| {});
            axum::serve(listener, app)
                .with_graceful_shutdown(stopping)
                .await
        }
    }
    .context("server error")?;

    // In-flight requests have finished; stop background jobs, then make
    // everything durable before exiting.
    let _ = stop_jobs.send(true);
    for (name, job) in [("sweeper", sweeper), ("metrics", metrics)]
        .into_iter()
        .chain(shared_jobs)
    {
        if let Err(e) = job.await {
            tracing::warn!(error = %e, "{name} ended abnormally");
        }
    }
    projects.jobs_ended().await;
    reload.abort();
    log.close().context("final flush failed")?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Why the listen address cannot be used, and what to do about it.
fn listen_error(listen: &str, e: std::io::Error) -> anyhow::Error {
    let advice = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "something else is listening there (another hivelog, or the service it replaces?). Stop it, or choose another address: hivelog serve --listen {}",
            next_port(listen)
        ),
        std::io::ErrorKind::AddrNotAvailable => "that address is not on this machine; use 127.0.0.1:<port>, or 0.0.0.0:<port> for every interface".to_string(),
        std::io::ErrorKind::PermissionDenied => "ports below 1024 need privileges; use one above it, e.g. --listen 127.0.0.1:8001".to_string(),
        _ => "choose another address with --listen (or HIVELOG_LISTEN)".to_string(),
    };
    anyhow::anyhow!("cannot listen on {listen}: {e}. {advice}")
}

/// `127.0.0.1:8001` → `127.0.0.1:8002`, for the hint.
fn next_port(listen: &str) -> String {
    match listen.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(p) => format!("{host}:{}", p.wrapping_add(1).max(1024)),
            Err(_) => "127.0.0.1:8002".to_string(),
        },
        None => "127.0.0.1:8002".to_string(),
    }
}

/// The block a person sees on start (stdout; logs go to stderr): where the
/// data lives and where to point a browser, an agent or a WebSocket client.
fn print_banner(config: &ServeConfig, scheme: &str, addr: std::net::SocketAddr) {
    use std::io::Write;
    let ws = if scheme == "https" { "wss" } else { "ws" };
    let data = std::fs::canonicalize(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    let banner = format!(
        "\n  hivelog {version} is running\n\n  data       {data}\n  dashboard  {scheme}://{addr}/\n  API docs   {scheme}://{addr}/docs  (OpenAPI: {scheme}://{addr}/openapi.json)\n  HTTP API   {scheme}://{addr}/api/…  (health: {scheme}://{addr}/health, metrics: {scheme}://{addr}/metrics)\n  WebSocket  {ws}://{addr}/ws\n  writes     {sync}\n{token}\n  Stop with Ctrl-C.\n",
        version = env!("CARGO_PKG_VERSION"),
        data = data.display(),
        token = if config.token.as_deref().is_some_and(|t| !t.is_empty()) || config.tokens_file.is_some() {
            format!("  token      required on the API and /ws; open the dashboard once as {scheme}://{addr}/#token=<token>\n")
        } else {
            String::new()
        },
        sync = match config.sync {
            crate::config::SyncMode::Always => "durable before answered (--sync always)".to_string(),
            crate::config::SyncMode::Interval => format!("flushed every {} (--sync interval)", crate::log::duration::format_duration(config.sync_interval)),
        },
    );
    // A closed stdout must not stop the server.
    let _ = std::io::stdout().lock().write_all(banner.as_bytes());
}
