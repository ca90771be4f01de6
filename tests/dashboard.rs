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

use std::time::{Duration, Instant};

use common::browser::{screenshot, Browser};
use common::{client, send, Server};
use fantoccini::Locator;
use serde_json::json;

#[tokio::test]
async fn the_dashboard_follows_agents_tasks_and_messages_live() {
    let Some(b) = Browser::start("the_dashboard_follows_agents_tasks_and_messages_live").await
    else {
        return;
    };
    let browser = &b.client;
    let server = Server::start();
    let wait = |css: String| {
        let b = &b;
        async move { b.wait(&css).await }
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
    // Read by selector each time: the card is re-rendered as events
    // arrive, so an element found a moment ago may be gone.
    b.wait_text(
        "[data-agent='alice'] .approval",
        "may I delete the old page?",
    )
    .await;
    b.wait_text("[data-agent='alice'] .medallion", "t1").await;

    // A task moves across the board as it is claimed and completed.
    send(c.post(server.url("/api/tasks")).json(
        &json!({"description": "", "task_id": "t1", "title": "Write page", "priority": "high"}),
    ))
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
    // Counts come from the server, per column and in the header.
    b.wait_text("[data-status='completed'] .count", "1").await;
    b.wait_text(
        "#summary",
        "0 available · 0 blocked · 0 claimed · 1 completed",
    )
    .await;

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
    b.wait_text("#msgs-coordination li:last-child .mention", "@alice")
        .await;
    let (_, msgs) = send(c.get(server.url("/api/messages/coordination"))).await;
    let last = msgs.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["agent_id"].clone(), last["content"].clone()),
        (json!("operator"), json!("hello @alice from the dashboard"))
    );
    // A raw publish on the channel shows live, and still after a reload
    // (the page loads every record, not only what old clients parse).
    let raw = c
        .post(server.url("/api/pub/mjwork.coordination"))
        .body("raw note");
    assert_eq!(send(raw).await.0, 200);
    b.wait_text("#msgs-coordination", "raw note").await;
    browser.refresh().await.expect("reload");
    wait("#conn[data-state='live']".into()).await;
    b.wait_text("#msgs-coordination", "raw note").await;
    b.wait_text("#msgs-coordination", "hello @alice from the dashboard")
        .await;

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
    // The old messages page lands on the dashboard's messages.
    browser
        .goto(&server.url("/messages.html"))
        .await
        .expect("old bookmark");
    wait("#conn[data-state='live']".into()).await;
    let url = browser.current_url().await.unwrap();
    assert_eq!(
        (url.path(), url.fragment()),
        ("/", Some("messages-section"))
    );
    wait("#msgs-coordination li .mention".into()).await;

    screenshot(browser, "dashboard-test.png").await;
    b.client.clone().close().await.unwrap();
}

/// A board of 100,000 tasks: counts are exact, each column shows a page
/// and loads more on request, and live changes still show at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_board_stays_usable_with_100k_tasks() {
    let Some(b) = Browser::start("the_board_stays_usable_with_100k_tasks").await else {
        return;
    };
    const TASKS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &["--sync", "interval"]);
    // 100,000 tasks: 1,000 blocked, 2,000 failed, the rest available.
    let started = Instant::now();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for _ in 0..32 {
        let (c, base, next) = (client(), server.base.clone(), next.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= TASKS {
                    break;
                }
                let mut t = json!({"task_id": format!("t{i:06}"), "title": format!("task {i}")});
                if i < 1_000 {
                    t["blocked_by"] = json!(["never"]);
                } else if i < 3_000 {
                    t["status"] = json!("failed");
                }
                let (status, body) = send(c.post(format!("{base}/api/v2/tasks")).json(&t)).await;
                assert_eq!(status, 200, "{body}");
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    eprintln!("100k tasks stored in {:?}", started.elapsed());

    let browser = &b.client;
    let opened = Instant::now();
    browser.goto(&server.base).await.expect("open dashboard");
    b.wait("#conn[data-state='live']").await;
    b.wait_text(
        "#summary",
        "97000 available · 1000 blocked · 0 claimed · 0 completed · 2000 failed",
    )
    .await;
    eprintln!("dashboard live with 100k tasks in {:?}", opened.elapsed());
    b.wait_text("[data-status='available'] .count", "97000")
        .await;
    let cards = |col: &'static str| async move {
        browser
            .find_all(Locator::Css(&format!("[data-status='{col}'] [data-task]")))
            .await
            .unwrap()
            .len()
    };
    assert_eq!(cards("available").await, 50, "one page, not 97,000 cards");
    assert_eq!(cards("failed").await, 50);
    // More on request, continuing in order.
    let more = b.wait("[data-status='available'] .more").await;
    assert!(more.text().await.unwrap().contains("96950 not shown"));
    more.click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while cards("available").await != 100 {
        assert!(Instant::now() < deadline, "the second page never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Live: a claim moves a card and the counts at once.
    let c = client();
    let claimed = send(
        c.post(server.url("/api/tasks/t003000/claim"))
            .json(&json!({"agent_id": "alice"})),
    )
    .await;
    assert_eq!(claimed.0, 200, "{}", claimed.1);
    b.wait("[data-status='claimed'] [data-task='t003000']")
        .await;
    b.wait_text("#summary", "96999 available · 1000 blocked · 1 claimed")
        .await;
    // The page stays responsive: a script round trip is quick.
    let t = Instant::now();
    browser.execute("return 1", vec![]).await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "page busy: {:?}",
        t.elapsed()
    );
    screenshot(browser, "dashboard-100k.png").await;
    b.client.clone().close().await.unwrap();
}
