use super::*;
use crate::log::subject::validate_subject;
use proptest::prelude::*;

fn untoken(t: &str) -> Option<String> {
    let mut bytes = Vec::new();
    let mut it = t.bytes();
    while let Some(b) = it.next() {
        if b == b'~' {
            let hex = [it.next()?, it.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

proptest! {
    #[test]
    fn any_id_is_one_valid_token_and_back(id in ".{1,40}") {
        let t = token(&id);
        let subject = format!("hivelog.state.task.{t}");
        prop_assert!(validate_subject(&subject).is_ok(), "{} is not a valid subject", subject);
        prop_assert_eq!(untoken(&t), Some(id));
    }
}

#[test]
fn old_client_task_bodies_parse() {
    let body = r#"{"task_id": "task-8", "title": "t", "description": "d", "status": "available",
        "priority": "high", "blocked_by": ["task-7"], "created_at": "2026-01-30T10:12:00.123456",
        "owner": null, "claimed_at": null, "completed_at": null, "result": null, "error": null, "team": "docs"}"#;
    let input: TaskInput = serde_json::from_str(body).unwrap();
    input.validate().unwrap();
    assert_eq!(input.dependencies(), vec!["task-7".to_string()]);
    assert_eq!(input.extra.get("team"), Some(&Value::String("docs".into())));
    let bad: TaskInput = serde_json::from_str(r#"{"task_id": "a b"}"#).unwrap();
    assert!(bad.validate().is_err());
    let selfdep: TaskInput =
        serde_json::from_str(r#"{"task_id": "a", "blocked_by": ["a"]}"#).unwrap();
    assert!(matches!(selfdep.validate(), Err(CoordError::Cycle(_))));
    assert!(
        serde_json::from_str::<TaskInput>(r#"{"task_id": "a", "priority": "urgent"}"#).is_err()
    );
}
