//! The coordination side of the dashboard in a real headless Chromium:
//! claimed tasks show owner, lease countdown, fencing token and files; the
//! reservations panel shows who holds what and which tasks wait on it;
//! slots in use; a task that needs a human can be retried from the page;
//! the pause switch; search and filters; the task detail view; recent
//! events from before the page opened; dead agents collapsed (their last
//! "busy" and approval shown as past) and cleared; approvals answered from
//! the page into the agent's inbox; messages keep their line breaks.

mod common;

use std::time::Duration;

use common::browser::{screenshot, Browser};
use common::{client, send, Server};
use fantoccini::Locator;
use serde_json::{json, Value};

/// Clicks what `css` matches once it is there. By script, because live
/// updates redraw cards and a found element can go stale before a click.
async fn click(b: &Browser, css: &str) {
    b.wait(css).await;
    let done = b
        .client
        .execute(
            "const e = document.querySelector(arguments[0]); if (e) e.click(); return !!e;",
            vec![json!(css)],
        )
        .await
        .unwrap();
    assert_eq!(done, json!(true), "{css} vanished before the click");
}

/// Waits until exactly `n` elements match `css`.
async fn wait_count(b: &Browser, css: &str, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let found = b.client.find_all(Locator::Css(css)).await.unwrap().len();
        if found == n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css}: {found} shown, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post(server: &Server, path: &str, body: Value) -> Value {
    let (status, answer) = send(client().post(server.url(path)).json(&body)).await;
    assert!(status < 300, "{path}: {status} {answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_coordination_and_acts_on_it() {
    let Some(b) = Browser::start("the_dashboard_shows_coordination_and_acts_on_it").await else {
        return;
    };
    let browser = &b.client;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        &[
            "--agent-stale-after",
            "1s",
            "--agent-dead-after",
            "2s",
            "--reap-interval",
            "100ms",
            "--max-attempts",
            "1",
        ],
    );

    // History from before the page opens.
    post(
        &server,
        "/api/v2/tasks",
        json!({"task_id": "early", "title": "done before"}),
    )
    .await;
    post(
        &server,
        "/api/tasks/early/claim",
        json!({"agent_id": "eve"}),
    )
    .await;
    post(
        &server,
        "/api/tasks/early/complete",
        json!({"agent_id": "eve", "success": true}),
    )
    .await;
    // An agent that dies while busy and asking for approval.
    post(
        &server,
        "/api/agents/heartbeat",
        json!({"agent_id": "ghost", "status": "busy",
        "current_task": "x", "needs_approval": true, "approval_message": "rm -rf?"}),
    )
    .await;

    // alice stays alive (agents die after 2 s of silence here).
    let alice = tokio::spawn({
        let url = server.url("/api/agents/heartbeat");
        async move {
            loop {
                send(
                    client()
                        .post(&url)
                        .json(&json!({"agent_id": "alice", "status": "busy"})),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    });

    browser.goto(&server.base).await.expect("open dashboard");
    b.wait("#conn[data-state='live']").await;
    b.wait_text("#timeline", "early → completed").await;
    b.wait(".legend .prio-high").await;

    // A claimed task with files: owner, token, lease countdown, files.
    post(
        &server,
        "/api/v2/tasks",
        json!({"task_id": "f1", "title": "api work", "files": ["src/**"]}),
    )
    .await;
    post(
        &server,
        "/api/v2/tasks",
        json!({"task_id": "f2", "title": "also api", "files": ["src/lib.rs"]}),
    )
    .await;
    post(&server, "/api/tasks/f1/claim", json!({"agent_id": "alice"})).await;
    let card = b
        .wait_text("[data-status='claimed'] [data-task='f1']", "token 1")
        .await;
    assert!(
        card.contains("@alice") && card.contains("files src/**"),
        "{card}"
    );
    let lease = b.wait_text("[data-task='f1'] .lease", "lease 1h").await;
    assert!(lease.contains("59m") || lease.contains("1h"), "{lease}");

    // Reservations, and the task waiting on them.
    b.wait_text("#reservations [data-reservation='src/**']", "alice")
        .await;
    b.wait_text("[data-waiting='f2']", "held by alice").await;

    // Slots in use.
    send(
        client()
            .put(server.url("/api/v2/slots/build"))
            .json(&json!({"permits": 2})),
    )
    .await;
    post(
        &server,
        "/api/v2/slots/build/acquire",
        json!({"agent_id": "bob"}),
    )
    .await;
    b.wait_text("[data-slot='build']", "1/2 in use").await;

    // A task out of attempts needs a human; Retry on the page queues it.
    post(
        &server,
        "/api/v2/tasks",
        json!({"task_id": "nh", "title": "flaky", "description": "line one\nline two"}),
    )
    .await;
    let c = post(&server, "/api/tasks/nh/claim", json!({"agent_id": "carol"})).await;
    let token = c["task"]["fencing_token"].clone();
    post(
        &server,
        "/api/v2/tasks/nh/complete",
        json!({"agent_id": "carol", "fencing_token": token, "error": "tests fail"}),
    )
    .await;
    b.wait("[data-status='needs_human'] [data-task='nh']").await;
    // Its detail: attempts, error, description with its line break, history.
    click(&b, "[data-task='nh']").await;
    let detail = b.wait_text("#detail", "Attempts").await;
    assert!(
        detail.contains("1 of 1") && detail.contains("tests fail"),
        "{detail}"
    );
    assert!(detail.contains("line one\nline two"), "{detail}");
    assert!(detail.contains("History (3 versions)"), "{detail}");
    click(&b, "[data-retry='nh']").await;
    b.wait("[data-status='available'] [data-task='nh']").await;

    // Search and filters narrow the board (on the server, so the counts
    // are those of what is shown).
    let search = browser.find(Locator::Css("#f-q")).await.unwrap();
    search.send_keys("flaky").await.unwrap();
    wait_count(&b, "#board [data-task]", 1).await;
    b.wait("[data-status='available'] [data-task='nh']").await;
    b.wait_text("[data-status='available'] .count", "1").await;
    search.clear().await.unwrap();
    search.send_keys(" ").await.unwrap();
    b.wait("[data-status='claimed'] [data-task='f1']").await;
    let owner = browser.find(Locator::Css("#f-owner")).await.unwrap();
    owner.send_keys("alice").await.unwrap();
    wait_count(&b, "#board [data-task]", 1).await;
    b.wait("[data-status='claimed'] [data-task='f1']").await;
    owner.clear().await.unwrap();
    owner.send_keys(" ").await.unwrap();
    b.wait("[data-task='nh']").await;

    // The pause switch stops grants, and says so.
    click(&b, "#pause-btn").await;
    b.wait("body[data-paused='true']").await;
    b.wait_text("#pause-state", "paused").await;
    let (_, p) = send(client().get(server.url("/api/v2/pause"))).await;
    assert_eq!(p["paused"], true);
    let refused = send(
        client()
            .post(server.url("/api/tasks/claim-next"))
            .json(&json!({"agent_id": "z"})),
    )
    .await;
    assert_eq!(refused.0, 503);
    click(&b, "#pause-btn").await;
    b.wait("body[data-paused='false']").await;

    // An approval request answered from the page lands in the inbox.
    post(
        &server,
        "/api/agents/heartbeat",
        json!({"agent_id": "dave", "status": "busy",
        "needs_approval": true, "approval_message": "may I force-push?"}),
    )
    .await;
    b.wait("[data-agent='dave'] .approval").await;
    // dave keeps beating so he stays alive while the page is used.
    let beat = tokio::spawn({
        let url = server.url("/api/agents/heartbeat");
        async move {
            loop {
                send(
                    client()
                        .post(&url)
                        .json(&json!({"agent_id": "dave", "status": "busy",
                    "needs_approval": true, "approval_message": "may I force-push?"})),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    });
    // Typed and sent in one go: the card is redrawn as dave keeps beating.
    b.wait("[data-agent='dave'] .approval-note").await;
    browser
        .execute(
            "const card = document.querySelector(\"[data-agent='dave']\");
             const note = card.querySelector('.approval-note');
             note.focus(); note.value = 'not on main';
             card.querySelector('.deny').click();",
            vec![],
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let item = loop {
        let (_, inbox) = send(client().get(server.url("/api/v2/agents/dave/inbox"))).await;
        if let Some(i) = inbox["items"].as_array().and_then(|a| a.first()).cloned() {
            break i;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no approval answer in the inbox"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    beat.abort();
    assert_eq!(item["kind"], "approval");
    assert!(
        item["text"].as_str().unwrap().starts_with("denied"),
        "{item}"
    );
    assert!(
        item["text"].as_str().unwrap().contains("not on main"),
        "{item}"
    );

    // The dead agent is collapsed out of the first screen, its last busy
    // and approval shown as past, and can be cleared.
    let dead = b.wait_text("#dead-agents summary", "dead agent").await;
    assert!(dead.contains('1') || dead.contains('2'), "{dead}");
    assert!(browser
        .find(Locator::Css("#agents [data-agent='ghost']"))
        .await
        .is_err());
    let ghost_card = browser
        .execute(
            "return document.querySelector(\"#dead-list [data-agent='ghost']\").textContent",
            vec![],
        )
        .await
        .unwrap();
    let ghost_card = ghost_card.as_str().unwrap();
    assert!(ghost_card.contains("last reported busy"), "{ghost_card}");
    assert!(browser
        .find(Locator::Css("[data-agent='ghost'] .approval"))
        .await
        .is_err());
    browser
        .execute("document.querySelector('#dead-agents').open = true", vec![])
        .await
        .unwrap();
    click(&b, "#clear-stale").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, agents) = send(client().get(server.url("/api/agents?include_stale=true"))).await;
        if !agents
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["agent_id"] == "ghost")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ghost was not cleared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Messages keep their line breaks.
    post(
        &server,
        "/api/messages",
        json!({"agent_id": "erin", "channel": "coordination",
        "content": "first line\nsecond line"}),
    )
    .await;
    let shown = b
        .wait_text("#msgs-coordination li:last-child .content", "second line")
        .await;
    assert!(shown.contains("first line\nsecond line"), "{shown:?}");

    alice.abort();
    screenshot(browser, "dashboard-work.png").await;
    b.client.clone().close().await.unwrap();
}
