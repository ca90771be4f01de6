//! Projects: the scope of coordination. One coordinator serves one project;
//! its tasks, agents, reservations, inboxes, slots, pause and import
//! positions live under that project's state subjects, so two projects on
//! one store never see each other's records (two repositories may both
//! have a task `fix-tests`, and an agent in one is never refused a file
//! reserved in the other).
//!
//! The `default` project keeps the subjects every earlier release wrote
//! (`hivelog.state.task.<id>`, …): existing data is the default project's
//! as it stands, with nothing to migrate. Any other project `p` is under
//! `hivelog.state.p.<p>.` (`hivelog.state.p.<p>.task.<id>`, …), which no
//! pattern of the default project matches (its fourth token is `p`, never
//! `task` or `agent`).

use super::CoordError;

/// The project anything that names none belongs to (the compatible routes,
/// old clients, data written before projects existed).
pub const DEFAULT_PROJECT: &str = "default";

/// Longest project name.
pub const MAX_PROJECT: usize = 64;

/// A project name is one subject token a person can read and type: ASCII
/// letters, digits, `-` and `_`, starting with a letter or digit. Case is
/// kept as given (`hivelog` and `Hivelog` are two projects, as two subject
/// tokens are).
pub fn validate_project(name: &str) -> Result<(), CoordError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_PROJECT
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(CoordError::Invalid(format!(
            "project {name:?} must be 1 to {MAX_PROJECT} ASCII letters, digits, '-' or '_', \
             starting with a letter or digit"
        )))
    }
}

/// What a state record holds: the token after its project's root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Task,
    Agent,
    Reservation,
    Control,
    Slot,
    Inbox,
    InboxAck,
    Import,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Task,
        Kind::Agent,
        Kind::Reservation,
        Kind::Control,
        Kind::Slot,
        Kind::Inbox,
        Kind::InboxAck,
        Kind::Import,
    ];

    pub fn token(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::Agent => "agent",
            Kind::Reservation => "reservation",
            Kind::Control => "control",
            Kind::Slot => "slot",
            Kind::Inbox => "inbox",
            Kind::InboxAck => "inbox_ack",
            Kind::Import => "import",
        }
    }
}

/// The state subjects of one project: each field is the prefix its records
/// extend with `.<token>` (kept built: every write names one).
#[derive(Debug, Clone)]
pub(crate) struct Subjects {
    /// What the project's state subjects start with (no trailing dot).
    pub root: String,
    pub task: String,
    pub agent: String,
    pub reservation: String,
    pub control: String,
    pub slot: String,
    pub inbox: String,
    pub inbox_ack: String,
    pub import: String,
}

impl Subjects {
    pub fn of(project: &str) -> Self {
        let root = if project == DEFAULT_PROJECT {
            "hivelog.state".to_string()
        } else {
            format!("hivelog.state.p.{project}")
        };
        let of = |k: Kind| format!("{root}.{}", k.token());
        Subjects {
            task: of(Kind::Task),
            agent: of(Kind::Agent),
            reservation: of(Kind::Reservation),
            control: of(Kind::Control),
            slot: of(Kind::Slot),
            inbox: of(Kind::Inbox),
            inbox_ack: of(Kind::InboxAck),
            import: of(Kind::Import),
            root,
        }
    }

    /// What a watch of this project's records filters on. The default
    /// project's includes other projects' records, which it passes over
    /// (`kind_of` names no kind for them).
    pub fn all(&self) -> String {
        format!("{}.>", self.root)
    }

    /// The kind and the rest (the record's id token) of one of this
    /// project's subjects; `None` for another project's (whose token after
    /// the default root is `p`, no kind) and for anything else stored there.
    pub fn kind_of<'s>(&self, subject: &'s str) -> Option<(Kind, &'s str)> {
        let rest = subject
            .strip_prefix(self.root.as_str())?
            .strip_prefix('.')?;
        let (token, id) = rest.split_once('.')?;
        let kind = Kind::ALL.into_iter().find(|k| k.token() == token)?;
        Some((kind, id))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_default_project_keeps_the_subjects_of_earlier_releases() {
        let s = Subjects::of(DEFAULT_PROJECT);
        assert_eq!(s.task, "hivelog.state.task");
        assert_eq!(s.agent, "hivelog.state.agent");
        assert_eq!(s.inbox_ack, "hivelog.state.inbox_ack");
        assert_eq!(s.all(), crate::streams::STATE_SUBJECTS);
        let p = Subjects::of("web-app");
        assert_eq!(p.task, "hivelog.state.p.web-app.task");
        assert_eq!(p.all(), "hivelog.state.p.web-app.>");
    }

    #[test]
    fn names_are_one_readable_subject_token() {
        for good in [
            "default",
            "a",
            "web-app",
            "My_Repo2",
            &"x".repeat(MAX_PROJECT),
        ] {
            assert!(validate_project(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-x",
            "_x",
            "a.b",
            "a b",
            "a*",
            ">",
            "a/b",
            "é",
            &"x".repeat(MAX_PROJECT + 1),
        ] {
            assert!(validate_project(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        /// No record of one project is ever read as another's: a subject
        /// built for project `a` has a kind for `a` only.
        #[test]
        fn a_subject_belongs_to_exactly_one_project(
            a in prop_oneof![Just(DEFAULT_PROJECT.to_string()), "[a-z0-9][a-z0-9_-]{0,8}"],
            b in prop_oneof![Just(DEFAULT_PROJECT.to_string()), "[a-z0-9][a-z0-9_-]{0,8}"],
            kind in prop::sample::select(Kind::ALL.to_vec()),
            id in "[a-z0-9_-]{1,8}",
        ) {
            let subject = format!("{}.{}.{id}", Subjects::of(&a).root, kind.token());
            prop_assert_eq!(Subjects::of(&a).kind_of(&subject), Some((kind, id.as_str())));
            if a != b {
                prop_assert_eq!(Subjects::of(&b).kind_of(&subject), None);
            }
        }
    }
}
