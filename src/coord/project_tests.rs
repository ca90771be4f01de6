//! Projects on one store: coordinators of two projects over the same port
//! never see each other's tasks, agents, reservations, inboxes or pause,
//! and each loads only its own records again after a restart. The default
//! project reads what earlier releases wrote.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::clock::ManualClock;
use super::facet_tests::{note, register, reserve};
use super::task::TaskInput;
use super::{CoordConfig, CoordError, Coordinator};
use crate::streams::{JetStreamPort, LogPort, MemoryPort};

async fn open<P: LogPort>(port: &Arc<P>, project: &str) -> Arc<Coordinator<Arc<P>>> {
    let config = CoordConfig {
        project: project.into(),
        ..CoordConfig::default()
    };
    Coordinator::open_with_clock(port.clone(), config, Arc::new(ManualClock::default()))
        .await
        .unwrap()
}

fn gone() -> CancellationToken {
    CancellationToken::new()
}

fn task(id: &str, title: &str) -> TaskInput {
    serde_json::from_value(json!({"task_id": id, "title": title})).unwrap()
}

async fn two_projects_have_the_same_task_id_and_claim_only_their_own<P: LogPort>(port: P) {
    let port = Arc::new(port);
    let (a, b) = (open(&port, "repo-a").await, open(&port, "repo-b").await);
    a.tasks().post(task("fix-tests", "in A")).await.unwrap();
    b.tasks().post(task("fix-tests", "in B")).await.unwrap();
    a.tasks().post(task("only-a", "A's alone")).await.unwrap();
    // What each serves is read back from the store, not only remembered.
    let (a, b) = (open(&port, "repo-a").await, open(&port, "repo-b").await);

    assert_eq!(a.tasks().get("fix-tests").unwrap().title, "in A");
    assert_eq!(b.tasks().get("fix-tests").unwrap().title, "in B");
    assert!(matches!(
        b.tasks().get("only-a"),
        Err(CoordError::TaskNotFound)
    ));
    assert_eq!(a.tasks().counts().available, 2);
    assert_eq!(b.tasks().counts().available, 1);

    // B's agent drains B and never gets A's work.
    let first = b
        .tasks()
        .claim_next("agent-b", None, Duration::ZERO, &gone())
        .await
        .unwrap();
    assert_eq!(first.unwrap().task.title, "in B");
    assert!(b
        .tasks()
        .claim_next("agent-b", None, Duration::ZERO, &gone())
        .await
        .unwrap()
        .is_none());
    assert_eq!(a.tasks().counts().available, 2);
}

async fn a_reservation_in_one_project_never_refuses_an_agent_in_another<P: LogPort>(port: P) {
    let port = Arc::new(port);
    let a = open(&port, "repo-a").await;
    a.reservations()
        .reserve(reserve("claude-a", "src/**", true))
        .await
        .unwrap();
    // B opens after A reserved, so it loads whatever the store says B holds.
    let b = open(&port, "repo-b").await;
    b.reservations()
        .reserve(reserve("claude-b", "src/main.rs", true))
        .await
        .unwrap();
    assert!(matches!(
        a.reservations()
            .reserve(reserve("other-a", "src/main.rs", true))
            .await,
        Err(CoordError::Reserved(_))
    ));
    assert_eq!(b.reservations().covering("src/main.rs", None).len(), 1);
    assert_eq!(
        b.reservations().covering("src/main.rs", None)[0].agent_id,
        "claude-b"
    );
}

async fn agents_inboxes_and_pause_stay_in_their_project<P: LogPort>(port: P) {
    let port = Arc::new(port);
    let a = open(&port, "repo-a").await;
    a.agents().register(register("claude-a")).await.unwrap();
    a.inbox()
        .deliver("claude-a", note("for A's claude"))
        .await
        .unwrap();
    assert_eq!(a.agents().list(true).len(), 1);
    assert_eq!(a.inbox().read("claude-a", 10).await.unwrap().len(), 1);
    let b = open(&port, "repo-b").await;
    assert!(b.agents().list(true).is_empty());
    assert!(b.inbox().read("claude-a", 10).await.unwrap().is_empty());

    a.set_paused(true, Some("lead".into()), Some("release".into()))
        .await
        .unwrap();
    assert!(a.is_paused());
    assert!(!b.is_paused());
    b.tasks().post(task("t", "B works on")).await.unwrap();
    assert!(b
        .tasks()
        .claim_next("agent-b", None, Duration::ZERO, &gone())
        .await
        .unwrap()
        .is_some());
    a.tasks().post(task("t", "A waits")).await.unwrap();
    assert!(matches!(
        a.tasks()
            .claim_next("agent-a", None, Duration::ZERO, &gone())
            .await,
        Err(CoordError::Paused)
    ));
}

async fn each_project_loads_only_its_own_records_after_a_restart<P: LogPort>(port: P) {
    let port = Arc::new(port);
    {
        let (d, p) = (open(&port, "default").await, open(&port, "repo-b").await);
        d.tasks().post(task("t1", "default's")).await.unwrap();
        p.tasks().post(task("t1", "repo-b's")).await.unwrap();
        p.tasks().post(task("t2", "repo-b's too")).await.unwrap();
        p.reservations()
            .reserve(reserve("claude-b", "docs/**", true))
            .await
            .unwrap();
    }
    let (d, p) = (open(&port, "default").await, open(&port, "repo-b").await);
    assert_eq!(d.tasks().counts().available, 1);
    assert_eq!(d.tasks().get("t1").unwrap().title, "default's");
    assert!(d.reservations().list(None).is_empty());
    assert_eq!(p.tasks().counts().available, 2);
    assert_eq!(p.tasks().get("t1").unwrap().title, "repo-b's");
    assert_eq!(p.reservations().list(None).len(), 1);
}

async fn the_default_project_reads_what_earlier_releases_wrote<P: LogPort>(port: P) {
    let port = Arc::new(port);
    // A task record as a release before projects stored it.
    let old = open(&port, "default").await;
    old.tasks()
        .post(task("legacy", "from before"))
        .await
        .unwrap();
    let records = port.last_per_subject("hivelog.state.task.*").await.unwrap();
    assert_eq!(
        records.len(),
        1,
        "the default project writes where releases before it did"
    );
    let other = open(&port, "repo-b").await;
    assert!(other.tasks().get("legacy").is_err());
    assert_eq!(
        open(&port, "default")
            .await
            .tasks()
            .get("legacy")
            .unwrap()
            .title,
        "from before"
    );
}

async fn a_bad_project_name_is_refused_at_open<P: LogPort>(port: P) {
    let port = Arc::new(port);
    for bad in ["", "a.b", "a b", ">", "*"] {
        let config = CoordConfig {
            project: bad.into(),
            ..CoordConfig::default()
        };
        assert!(
            matches!(
                Coordinator::open(port.clone(), config).await,
                Err(CoordError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
}

async fn instances_of_a_project_follow_each_other_and_the_default_project_passes_over_them<
    P: LogPort,
>(
    port: P,
) {
    let port = Arc::new(port);
    let (one, two) = (open(&port, "repo-b").await, open(&port, "repo-b").await);
    let default = open(&port, "default").await;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let _followers = [
        one.start_follower(stopped.clone()),
        two.start_follower(stopped.clone()),
        default.start_follower(stopped),
    ];
    one.tasks().post(task("t", "B's")).await.unwrap();
    one.reservations()
        .reserve(reserve("claude-b", "src/**", true))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while two.tasks().get("t").is_err() || two.reservations().list(None).is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other instance never saw B's writes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The default project's follower watches every state record; once it
    // is past B's, it must have applied none of them.
    let head = port.head(crate::streams::STATE_SUBJECTS).await.unwrap();
    while default.followed.load(std::sync::atomic::Ordering::Acquire) < head {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the default project's follower stalled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    default
        .tasks()
        .post(task("marker", "after B's"))
        .await
        .unwrap();
    assert!(default.tasks().get("t").is_err());
    assert!(default.reservations().list(None).is_empty());
    assert_eq!(default.tasks().counts().available, 1);
}

on_both_ports!(
    two_projects_have_the_same_task_id_and_claim_only_their_own_in_memory,
    two_projects_have_the_same_task_id_and_claim_only_their_own_on_jetstream,
    two_projects_have_the_same_task_id_and_claim_only_their_own
);
on_both_ports!(
    a_reservation_in_one_project_never_refuses_an_agent_in_another_in_memory,
    a_reservation_in_one_project_never_refuses_an_agent_in_another_on_jetstream,
    a_reservation_in_one_project_never_refuses_an_agent_in_another
);
on_both_ports!(
    agents_inboxes_and_pause_stay_in_their_project_in_memory,
    agents_inboxes_and_pause_stay_in_their_project_on_jetstream,
    agents_inboxes_and_pause_stay_in_their_project
);
on_both_ports!(
    each_project_loads_only_its_own_records_after_a_restart_in_memory,
    each_project_loads_only_its_own_records_after_a_restart_on_jetstream,
    each_project_loads_only_its_own_records_after_a_restart
);
on_both_ports!(
    the_default_project_reads_what_earlier_releases_wrote_in_memory,
    the_default_project_reads_what_earlier_releases_wrote_on_jetstream,
    the_default_project_reads_what_earlier_releases_wrote
);
on_both_ports!(
    a_bad_project_name_is_refused_at_open_in_memory,
    a_bad_project_name_is_refused_at_open_on_jetstream,
    a_bad_project_name_is_refused_at_open
);
on_both_ports!(
    instances_of_a_project_follow_each_other_and_the_default_project_passes_over_them_in_memory,
    instances_of_a_project_follow_each_other_and_the_default_project_passes_over_them_on_jetstream,
    instances_of_a_project_follow_each_other_and_the_default_project_passes_over_them
);
