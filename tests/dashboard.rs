//! The dashboard in a real headless Chromium, driven through WebDriver
//! (chromedriver + fantoccini): state appears and moves without reload, a
//! message can be posted from the page, the page requests nothing from
//! outside the server, the docs page renders, and `--token` works from the
//! page. A screenshot goes to target/dashboard-test.png.
//!
//! Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them
//! and sets HIVELOG_REQUIRE_BROWSER=1, which makes a missing browser a
//! failure). Without them and without that variable the test says it was
//! skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{client, send, Server};
use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path).chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/lib/chromium"),
        ]) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start_driver(driver: &Path) -> (Driver, String) {
    let port = free_port();
    // Owned by the guard at once: killed and waited for on every path.
    let guard = Driver(
        Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (guard, url);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on port {port}");
}

#[tokio::test]
async fn the_dashboard_follows_agents_tasks_and_messages_live() {
    let required = std::env::var("HIVELOG_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let (Some(driver), Some(chromium)) = (
        find(&["chromedriver"]),
        find(&["chromium", "chromium-browser"]),
    ) else {
        assert!(
            !required,
            "HIVELOG_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed"
        );
        eprintln!("SKIPPED: dashboard browser test (install chromium and chromium-driver, or set HIVELOG_REQUIRE_BROWSER=1 to make this a failure)");
        return;
    };
    let server = Server::start();
    let (_driver, webdriver) = start_driver(&driver).await;
    let profile = tempfile::tempdir().unwrap();
    let caps = json!({"goog:chromeOptions": {
        "binary": chromium,
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,800", format!("--user-data-dir={}", profile.path().display())],
    }});
    let caps = caps.as_object().unwrap().clone();
    let browser = ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&webdriver)
        .await
        .expect("browser session");
    let wait = |css: String| {
        let browser = browser.clone();
        async move {
            browser
                .wait()
                .at_most(Duration::from_secs(15))
                .for_element(Locator::Css(&css))
                .await
                .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
        }
    };

    browser.goto(&server.base).await.expect("open dashboard");
    wait("#conn[data-state='live']".into()).await;

    // An agent that needs approval shows up with its flag, without reload.
    let c = client();
    send(
        c.post(server.url("/api/agents/register"))
            .json(&json!({"agent_id": "alice", "capabilities": ["docs"]})),
    )
    .await;
    let beat = json!({"agent_id": "alice", "status": "busy", "current_task": "t1", "current_task_title": "Write page",
                      "needs_approval": true, "approval_message": "may I delete the old page?"});
    send(c.post(server.url("/api/agents/heartbeat")).json(&beat)).await;
    let flag = wait("[data-agent='alice'] .approval".into()).await;
    assert!(flag
        .text()
        .await
        .unwrap()
        .contains("may I delete the old page?"));
    let medallion = wait("[data-agent='alice'] .medallion".into()).await;
    assert!(medallion.text().await.unwrap().contains("t1"));

    // A task moves across the board as it is claimed and completed.
    send(
        c.post(server.url("/api/tasks"))
            .json(&json!({"task_id": "t1", "title": "Write page", "priority": "high"})),
    )
    .await;
    wait("[data-status='available'] [data-task='t1']".into()).await;
    send(
        c.post(server.url("/api/tasks/t1/claim"))
            .json(&json!({"agent_id": "alice"})),
    )
    .await;
    wait("[data-status='claimed'] [data-task='t1']".into()).await;
    send(
        c.post(server.url("/api/tasks/t1/complete"))
            .json(&json!({"agent_id": "alice", "success": true})),
    )
    .await;
    wait("[data-status='completed'] [data-task='t1']".into()).await;

    // Post a message from the page.
    let input = browser.find(Locator::Css("#msg-text")).await.unwrap();
    input
        .send_keys("hello @alice from the dashboard")
        .await
        .unwrap();
    browser
        .find(Locator::Css("#msg-send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let shown = wait("#msgs-coordination li:last-child .mention".into()).await;
    assert_eq!(shown.text().await.unwrap(), "@alice");
    let (_, msgs) = send(c.get(server.url("/api/messages/coordination"))).await;
    let last = msgs["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["agent_id"].clone(), last["content"].clone()),
        (json!("operator"), json!("hello @alice from the dashboard"))
    );

    // Nothing was requested from anywhere but this server.
    let urls = browser
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)",
            vec![],
        )
        .await
        .unwrap();
    for url in urls.as_array().unwrap() {
        assert!(
            url.as_str().unwrap().starts_with(&server.base),
            "external request: {url}"
        );
    }

    // The docs page renders the spec in the browser, offline.
    browser.goto(&server.url("/docs")).await.expect("open docs");
    let claim = wait("details.op[data-search*='/api/tasks/{task_id}/claim']".into()).await;
    assert!(claim.text().await.unwrap().contains("POST"));

    // A server with --token: the page opened once as /#token=… goes live,
    // and forgets the token from the address bar.
    let dir = tempfile::tempdir().unwrap();
    let guarded = Server::try_start_with(dir.path(), &[], &[("HIVELOG_TOKEN", "s3cret")]).unwrap();
    send(
        c.post(guarded.url("/api/agents/register"))
            .bearer_auth("s3cret")
            .json(&json!({"agent_id": "tokened"})),
    )
    .await;
    // Without it, the page says what is missing instead of retrying silently.
    browser
        .goto(&guarded.base)
        .await
        .expect("open guarded dashboard without a token");
    let conn = browser.find(Locator::Css("#conn")).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !conn.text().await.unwrap().contains("needs a token") {
        assert!(
            std::time::Instant::now() < deadline,
            "no token hint: {}",
            conn.text().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser
        .goto(&format!("{}/#token=s3cret", guarded.base))
        .await
        .expect("open guarded dashboard");
    wait("#conn[data-state='live']".into()).await;
    wait("[data-agent='tokened']".into()).await;
    assert!(!browser
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("s3cret"));

    browser
        .goto(&server.base)
        .await
        .expect("back to the first dashboard");
    wait("#conn[data-state='live']".into()).await;
    let png = browser.screenshot().await.unwrap();
    let shot = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("dashboard-test.png");
    std::fs::write(&shot, png).unwrap();
    eprintln!("screenshot: {}", shot.display());
    browser.close().await.unwrap();
}
