//! The dashboard's project switcher in a real headless Chromium: the header
//! lists every project with its counts; the board, agents and pause of the
//! project chosen are all the page shows, live; "all projects" is an
//! overview of them.

mod common;

use std::time::Duration;

use common::browser::{screenshot, Browser};
use common::{client, send, Server};
use fantoccini::Locator;
use serde_json::json;

async fn add(server: &Server, project: Option<&str>, id: &str, title: &str) {
    let mut req = client()
        .post(server.url("/api/tasks"))
        .json(&json!({"task_id": id, "title": title, "description": ""}));
    if let Some(p) = project {
        req = req.header("X-Hivelog-Project", p);
    }
    let (status, body) = send(req).await;
    assert_eq!(status, 200, "{body}");
}

/// How many elements match `css` now.
async fn count(b: &Browser, css: &str) -> usize {
    b.client.find_all(Locator::Css(css)).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_switcher_shows_one_project_at_a_time_and_all_of_them_side_by_side() {
    let Some(b) =
        Browser::start("the_switcher_shows_one_project_at_a_time_and_all_of_them_side_by_side")
            .await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[]);
    add(&server, None, "legacy", "the default project's").await;
    add(&server, Some("alpha"), "a1", "alpha one").await;
    add(&server, Some("alpha"), "a2", "alpha two").await;
    add(&server, Some("beta"), "b1", "beta one").await;
    let (status, _) = send(
        client()
            .post(server.url("/api/v2/pause"))
            .header("X-Hivelog-Project", "beta")
            .json(&json!({"paused": true})),
    )
    .await;
    assert_eq!(status, 200);

    // The default project: its task only; every project in the header.
    b.client.goto(&server.base).await.unwrap();
    b.wait("[data-task='legacy']").await;
    b.wait_text("#project-counts [data-project='alpha']", "alpha 2·0")
        .await;
    b.wait_text("#project-counts [data-project='default']", "default 1·0")
        .await;
    let beta = b.wait("#project-counts [data-project='beta']").await;
    assert_eq!(
        beta.attr("data-paused").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        count(&b, "[data-task='a1']").await,
        0,
        "alpha's tasks are not on the default board"
    );
    let options = b.wait_text("#project", "alpha").await;
    assert!(
        options.contains("all projects") && options.contains("beta"),
        "{options}"
    );

    // Switching to alpha: its board, live, and nothing of the others.
    b.client
        .execute(
            "const s = document.querySelector('#project'); s.value = 'alpha'; s.dispatchEvent(new Event('change'));",
            vec![],
        )
        .await
        .unwrap();
    b.wait("[data-task='a2']").await;
    assert!(b
        .client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("?project=alpha"));
    assert_eq!(count(&b, "[data-task='legacy']").await, 0);
    b.wait_text("#conn", "live").await;
    add(&server, Some("alpha"), "a3", "alpha three, added live").await;
    add(&server, Some("beta"), "b2", "beta two, added live").await;
    add(&server, None, "legacy2", "default, added live").await;
    b.wait("[data-task='a3']").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(&b, "[data-task='b2']").await,
        0,
        "beta's new task is not shown"
    );
    assert_eq!(
        count(&b, "[data-task='legacy2']").await,
        0,
        "the default's new task is not shown"
    );
    // alpha is not paused; beta's switch does not show here.
    assert_eq!(b.wait_text("#pause-btn", "grants").await, "Pause grants");
    // The pause button acts on alpha only.
    b.client
        .execute("document.querySelector('#pause-btn').click()", vec![])
        .await
        .unwrap();
    b.wait_text("#pause-state", "no task is granted").await;
    let (_, alpha) = send(
        client()
            .get(server.url("/api/v2/pause"))
            .header("X-Hivelog-Project", "alpha"),
    )
    .await;
    assert_eq!(alpha["paused"], true);
    let (_, default) = send(client().get(server.url("/api/v2/pause"))).await;
    assert_eq!(
        default["paused"], false,
        "the default project was not paused"
    );

    // A project nobody wrote to yet: empty, and its first task shows up
    // live (the page follows its subjects, not the default project's).
    b.client.goto(&server.url("/?project=fresh")).await.unwrap();
    b.wait_text("#conn", "live").await;
    add(&server, None, "legacy3", "default, while fresh is open").await;
    add(&server, Some("fresh"), "f1", "fresh's first").await;
    b.wait("[data-task='f1']").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count(&b, "[data-task='legacy3']").await,
        0,
        "the default's task is not shown"
    );

    // All projects: the overview, with each project's counts.
    b.client.goto(&server.url("/?project=*")).await.unwrap();
    b.wait_text("#projects [data-project='alpha']", "alpha")
        .await;
    let row = b.wait_text("#projects [data-project='alpha']", "3").await;
    assert!(row.contains("paused"), "{row}");
    b.wait_text("#projects [data-project='beta']", "beta").await;
    b.wait_text("#projects [data-project='default']", "3").await;
    let board_shown = b
        .client
        .execute(
            "return getComputedStyle(document.querySelector('#tasks-section')).display !== 'none'",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        board_shown,
        json!(false),
        "no single project's board in the overview"
    );
    // Here the switch is the machine's: every project stops granting.
    b.wait_text("#pause-btn", "Pause grants in every project")
        .await;
    b.client
        .execute("document.querySelector('#pause-btn').click()", vec![])
        .await
        .unwrap();
    b.wait_text("#pause-state", "every project is paused").await;
    let (_, machine) = send(client().get(server.url("/api/v2/pause/machine"))).await;
    assert_eq!(machine["paused"], true, "{machine}");
    let (status, _) = send(
        client()
            .post(server.url("/api/tasks/claim-next"))
            .json(&json!({"agent_id": "x"})),
    )
    .await;
    assert_eq!(status, 503, "the default project stopped granting too");
    screenshot(&b.client, "dashboard_projects.png").await;
}
