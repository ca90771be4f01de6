//! The registry of projects over one store: the first requests naming a
//! new project, all at once, get one coordinator; what is recorded opens
//! again in a new registry (a restart); names are checked and the number
//! of projects bounded; the machine's switch stops grants everywhere and
//! survives a restart.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::clock::ManualClock;
use super::lifecycle_tests::add;
use super::{CoordConfig, CoordError, Coordinator, Projects};
use crate::streams::{JetStreamPort, LogPort, MemoryPort};

async fn registry<P: LogPort + Clone>(port: &P) -> Arc<Projects<P>> {
    let default = Coordinator::open_with_clock(
        port.clone(),
        CoordConfig::default(),
        Arc::new(ManualClock::default()),
    )
    .await
    .unwrap();
    let projects = Arc::new(Projects::around(default).with_max(4));
    projects.load().await.unwrap();
    projects
}

async fn next<P: LogPort>(c: &Coordinator<P>) -> Result<Option<String>, CoordError> {
    c.tasks()
        .claim_next("agent", None, Duration::ZERO, &CancellationToken::new())
        .await
        .map(|w| w.map(|w| w.task.task_id))
}

async fn a_new_project_opens_once_and_again_after_a_restart<P: LogPort>(port: P) {
    let port = Arc::new(port);
    let projects = registry(&port).await;
    let opened = futures_util::future::join_all(
        (0..16).map(|_| projects.get(Some("repo-a"), Some("github.com/me/a"))),
    )
    .await;
    let first = opened[0].as_ref().unwrap().clone();
    for c in &opened {
        assert!(
            Arc::ptr_eq(c.as_ref().unwrap(), &first),
            "one coordinator per project"
        );
    }
    add(&first, serde_json::json!({"task_id": "t", "title": "a's"})).await;
    assert!(Arc::ptr_eq(
        &projects.get(None, None).await.unwrap(),
        projects.default_project()
    ));
    assert!(Arc::ptr_eq(
        &projects.get(Some("default"), None).await.unwrap(),
        projects.default_project()
    ));

    // A restart: a new registry on the same store opens what was recorded.
    let again = registry(&port).await;
    let listed: Vec<(String, Option<String>)> = again
        .list()
        .into_iter()
        .map(|(info, _)| (info.name, info.repository))
        .collect();
    assert_eq!(
        listed,
        [
            ("default".to_string(), None),
            ("repo-a".to_string(), Some("github.com/me/a".to_string()))
        ]
    );
    let a = again.get(Some("repo-a"), None).await.unwrap();
    assert_eq!(a.tasks().get("t").unwrap().title, "a's");
    assert!(again.default_project().tasks().get("t").is_err());
}

async fn names_are_checked_and_projects_bounded<P: LogPort>(port: P) {
    let projects = registry(&Arc::new(port)).await;
    for bad in ["", "a.b", "a*", ">", "-a", "é"] {
        assert!(
            matches!(
                projects.get(Some(bad), None).await,
                Err(CoordError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        projects.get(Some("ok"), Some("line\nbreak")).await,
        Err(CoordError::Invalid(_))
    ));
    // The default and three more (with_max(4)).
    for name in ["p1", "p2", "p3"] {
        projects.get(Some(name), None).await.unwrap();
    }
    let refused = projects.get(Some("p4"), None).await;
    assert!(
        matches!(&refused, Err(CoordError::Invalid(m)) if m.contains("at most 4")),
        "{:?}",
        refused.err()
    );
    // Those already open still are.
    projects.get(Some("p2"), None).await.unwrap();
    assert_eq!(projects.list().len(), 4);
}

async fn the_machine_switch_stops_every_project_and_survives_a_restart<P: LogPort>(port: P) {
    let port = Arc::new(port);
    let projects = registry(&port).await;
    let a = projects.get(Some("a"), None).await.unwrap();
    add(&a, serde_json::json!({"task_id": "t1", "title": "one"})).await;
    add(&a, serde_json::json!({"task_id": "t2", "title": "two"})).await;
    add(
        projects.default_project(),
        serde_json::json!({"task_id": "d", "title": "d"}),
    )
    .await;

    projects
        .set_machine_paused(true, Some("ops".into()), None)
        .await
        .unwrap();
    assert!(matches!(next(&a).await, Err(CoordError::Paused)));
    assert!(matches!(
        next(projects.default_project()).await,
        Err(CoordError::Paused)
    ));
    assert!(!a.pause_state().paused, "a's own switch is untouched");
    assert!(matches!(
        a.set_machine_paused(false, None, None).await,
        Err(CoordError::Invalid(_))
    ));

    let again = registry(&port).await;
    let a2 = again.get(Some("a"), None).await.unwrap();
    assert!(a2.is_paused(), "the machine's switch survives a restart");
    assert_eq!(
        again.default_project().machine_pause().by.as_deref(),
        Some("ops")
    );
    again.set_machine_paused(false, None, None).await.unwrap();
    assert_eq!(next(&a2).await.unwrap().as_deref(), Some("t1"));
    // A project's own switch still stops it alone.
    a2.set_paused(true, None, None).await.unwrap();
    assert!(matches!(next(&a2).await, Err(CoordError::Paused)));
    assert_eq!(
        next(again.default_project()).await.unwrap().as_deref(),
        Some("d")
    );
}

on_both_ports!(
    opens_once_in_memory,
    opens_once_on_jetstream,
    a_new_project_opens_once_and_again_after_a_restart
);
on_both_ports!(
    names_bounded_in_memory,
    names_bounded_on_jetstream,
    names_are_checked_and_projects_bounded
);
on_both_ports!(
    machine_switch_in_memory,
    machine_switch_on_jetstream,
    the_machine_switch_stops_every_project_and_survives_a_restart
);
