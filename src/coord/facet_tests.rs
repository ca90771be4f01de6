//! Each facet on its own, through its handle, on the in-memory port with a
//! manual clock: what one concept promises without going through tasks or
//! HTTP. (The task lifecycle has its own file, lifecycle_tests.rs.)

use std::time::Duration;

use serde_json::{json, Map};

use super::agent::{Health, RegisterInput};
use super::channels::MessageInput;
use super::inbox::InboxItem;
use super::lifecycle_tests::open_on;
use super::reservation::ReserveRequest;
use super::time::Timestamp;
use super::CoordError;
use crate::streams::MemoryPort;

pub(super) fn register(id: &str) -> RegisterInput {
    RegisterInput {
        agent_id: id.into(),
        description: None,
        capabilities: None,
        extra: Map::new(),
    }
}

pub(super) fn note(text: &str) -> InboxItem {
    InboxItem {
        seq: 0,
        kind: "message".into(),
        from: Some("lead".into()),
        text: text.into(),
        task_id: None,
        channel: None,
        at: Timestamp::now(),
    }
}

pub(super) fn reserve(agent: &str, glob: &str, exclusive: bool) -> ReserveRequest {
    ReserveRequest {
        agent: agent.into(),
        globs: vec![glob.into()],
        exclusive,
        ttl: Duration::from_secs(600),
        task_id: None,
        reason: None,
    }
}

#[tokio::test]
async fn agents_turn_stale_then_dead_without_heartbeats_and_can_be_removed() {
    let (coord, clock) = open_on(MemoryPort::new()).await;
    let agents = coord.agents();
    agents.register(register("a1")).await.unwrap();
    assert_eq!(agents.list(true)[0].health, Health::Active);
    clock.advance(Duration::from_secs(25));
    assert_eq!(agents.list(true)[0].health, Health::Stale);
    clock.advance(Duration::from_secs(10));
    assert_eq!(agents.list(true)[0].health, Health::Dead);
    assert!(agents.list(false).is_empty(), "stale and dead are left out");
    agents.remove("a1").await.unwrap();
    assert!(agents.list(true).is_empty());
    assert!(matches!(
        agents.remove("a1").await,
        Err(CoordError::AgentNotFound(_))
    ));
}

#[tokio::test]
async fn an_inbox_is_read_without_consuming_and_acked_up_to_a_sequence() {
    let (coord, _) = open_on(MemoryPort::new()).await;
    let inbox = coord.inbox();
    let first = inbox.deliver("a1", note("one")).await.unwrap();
    inbox.deliver("a1", note("two")).await.unwrap();
    inbox.deliver("a2", note("elsewhere")).await.unwrap();

    let texts = |items: Vec<InboxItem>| items.into_iter().map(|i| i.text).collect::<Vec<_>>();
    assert_eq!(texts(inbox.read("a1", 10).await.unwrap()), ["one", "two"]);
    assert_eq!(texts(inbox.read("a1", 10).await.unwrap()), ["one", "two"]);
    inbox.ack("a1", Some(first)).await.unwrap();
    assert_eq!(texts(inbox.read("a1", 10).await.unwrap()), ["two"]);
    inbox.ack("a1", None).await.unwrap();
    assert!(inbox.read("a1", 10).await.unwrap().is_empty());
    assert_eq!(texts(inbox.read("a2", 10).await.unwrap()), ["elsewhere"]);
}

#[tokio::test]
async fn an_inbox_wait_returns_when_an_item_arrives() {
    let (coord, _) = open_on(MemoryPort::new()).await;
    let waiter = {
        let coord = coord.clone();
        tokio::spawn(async move { coord.inbox().wait("a1", 0, Duration::from_secs(30)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    coord.inbox().deliver("a1", note("wake")).await.unwrap();
    let items = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the wait ends when the item arrives")
        .unwrap()
        .unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].text, "wake");
}

#[tokio::test]
async fn an_exclusive_reservation_keeps_others_out_until_released() {
    let (coord, _) = open_on(MemoryPort::new()).await;
    let res = coord.reservations();
    res.reserve(reserve("a1", "src/**", true)).await.unwrap();
    match res.reserve(reserve("a2", "src/main.rs", false)).await {
        Err(CoordError::Reserved(conflicts)) => assert_eq!(conflicts.len(), 1),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let covering = res.covering("src/main.rs", None);
    assert_eq!(covering.len(), 1);
    assert_eq!(covering[0].agent_id, "a1");
    assert!(res.covering("src/main.rs", Some("a1")).is_empty());
    assert!(res.covering("README.md", None).is_empty());

    let released = res.release("a1", &[]).await.unwrap();
    assert_eq!(released.len(), 1);
    res.reserve(reserve("a2", "src/main.rs", false))
        .await
        .unwrap();
    assert_eq!(res.list(Some("a2")).len(), 1);
    assert!(res.list(Some("a1")).is_empty());
}

#[tokio::test]
async fn shared_reservations_coexist_and_expire_with_their_ttl() {
    let (coord, clock) = open_on(MemoryPort::new()).await;
    let res = coord.reservations();
    res.reserve(reserve("a1", "docs/**", false)).await.unwrap();
    res.reserve(reserve("a2", "docs/**", false)).await.unwrap();
    assert_eq!(res.list(None).len(), 2);
    clock.advance(Duration::from_secs(601));
    assert!(res.list(None).is_empty(), "past their TTL they are gone");
}

#[tokio::test]
async fn a_slot_never_grants_more_permits_than_it_has() {
    let (coord, clock) = open_on(MemoryPort::new()).await;
    let slots = coord.slots();
    let ttl = Duration::from_secs(60);
    slots.set("build", 2, None).await.unwrap();
    let (a, _) = slots
        .acquire("build", "a1", ttl, Duration::ZERO, None)
        .await
        .unwrap();
    slots
        .acquire("build", "a2", ttl, Duration::ZERO, None)
        .await
        .unwrap();
    match slots
        .acquire("build", "a3", ttl, Duration::ZERO, None)
        .await
    {
        Err(CoordError::SlotFull(slot)) => assert_eq!(slot.holders.len(), 2),
        other => panic!("expected a full slot, got {other:?}"),
    }
    assert_eq!(slots.release("build", "a1", Some(&a.id)).await.unwrap(), 1);
    slots
        .acquire("build", "a3", ttl, Duration::ZERO, None)
        .await
        .unwrap();
    // A permit past its TTL is no longer held.
    clock.advance(Duration::from_secs(61));
    let listed = slots.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].holders.is_empty());
}

#[tokio::test]
async fn a_channel_keeps_order_and_finds_mentions() {
    let (coord, _) = open_on(MemoryPort::new()).await;
    let channels = coord.channels();
    for (who, text) in [("a1", "hello @a2"), ("a2", "hi"), ("a1", "@a3 look")] {
        channels
            .post(MessageInput {
                agent_id: Some(who.into()),
                channel: Some("general".into()),
                content: Some(json!(text)),
                ..MessageInput::default()
            })
            .await
            .unwrap();
    }
    let all = channels.messages("general", 10, None, false).await.unwrap();
    let contents: Vec<_> = all.iter().map(|m| m.content.clone()).collect();
    assert_eq!(
        contents,
        [json!("hello @a2"), json!("hi"), json!("@a3 look")]
    );
    let for_a2 = channels
        .messages("general", 10, Some("a2"), false)
        .await
        .unwrap();
    assert_eq!(for_a2.len(), 1);
    assert_eq!(for_a2[0].agent_id.as_deref(), Some("a1"));
    assert!(matches!(
        channels
            .post(MessageInput {
                channel: Some("general".into()),
                content: Some(json!("anonymous")),
                ..MessageInput::default()
            })
            .await,
        Err(CoordError::MissingAgent)
    ));
}
