//! What a client sets on a task and the queue only carries: no index, no
//! state change and no hot path reads it. A field declared in
//! `details!` below is taken by a create (`POST /api/tasks`, `/api/v2/tasks`)
//! and an update that names it, answered in the task's JSON beside the
//! other fields, and kept by the compact form and the snapshot, with no
//! other edit in coord. The MCP `add_task` tool and `hivelog task add`
//! name each one they offer. A field's checks go in `Details::check`.

use serde::{Deserialize, Serialize};

use crate::coord::CoordError;

/// Declares `Details` and `DetailsInput` from one field list, so the two
/// and the merge between them cannot disagree.
macro_rules! details {
    ($details:ident, $input:ident { $( $(#[doc = $doc:literal])* $name:ident: $ty:ty, )* }) => {
        /// A task's details (see the module's documentation). Flattened
        /// into the task's JSON; read with their defaults from records
        /// written before a field existed.
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        pub struct $details {
            $( $(#[doc = $doc])* #[serde(default)] pub $name: $ty, )*
        }

        /// The details a create or an update gives; each one left out is
        /// left as it was.
        #[serde_with::skip_serializing_none]
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $input {
            $( $(#[doc = $doc])* pub $name: Option<$ty>, )*
        }

        impl $details {
            /// Takes every detail `input` gives.
            pub fn merge(&mut self, input: &$input) {
                let _ = input;
                $( if let Some(v) = &input.$name { self.$name = v.clone(); } )*
            }

            /// What the compact form's layout of the details depends on:
            /// the fields' names and default encodings. A snapshot written
            /// with another layout is not read (the view is rebuilt from
            /// the records). A field whose type changes but encodes its
            /// default alike needs `FORMAT` bumped in `snapshot/format.rs`.
            pub fn layout() -> u32 {
                crc32fast::hash(
                    serde_json::to_string(&$details::default())
                        .unwrap_or_default()
                        .as_bytes(),
                )
            }
        }
    };
}

details!(Details, DetailsInput {});

impl Details {
    /// A detail's bounds, checked on every create and update.
    pub fn check(&self) -> Result<(), CoordError> {
        Ok(())
    }

    /// The details `input` gives, checked as `check` checks a task's.
    pub fn check_input(input: &DetailsInput) -> Result<(), CoordError> {
        let mut d = Details::default();
        d.merge(input);
        d.check()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    // Details as a build with two would declare them.
    details!(Two, TwoInput {
        /// Tags.
        labels: Vec<String>,
        size: Option<u32>,
    });

    /// A task's shape around its details: fields before, unknown ones after.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder {
        id: String,
        #[serde(flatten)]
        details: Two,
        #[serde(flatten)]
        extra: Map<String, Value>,
    }

    #[test]
    fn declared_details_merge_read_and_encode_as_the_task_carries_them() {
        let mut d = Two::default();
        d.merge(&serde_json::from_value(json!({"labels": ["a"]})).unwrap());
        d.merge(&serde_json::from_value(json!({"size": 3})).unwrap());
        assert_eq!(d.labels, ["a"], "a detail left out stays as it was");
        assert_eq!(d.size, Some(3));
        // In the task's JSON: the details beside the other fields, the
        // client's unknown fields kept apart, a record from before a
        // detail existed read with its default.
        let h: Holder =
            serde_json::from_value(json!({"id": "t", "labels": ["x"], "mine": 1})).unwrap();
        assert_eq!(h.details.labels, ["x"]);
        assert_eq!(h.details.size, None);
        assert_eq!(h.extra.keys().collect::<Vec<_>>(), ["mine"]);
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            json!({"id": "t", "labels": ["x"], "size": null, "mine": 1})
        );
        // In the compact form (bincode), whole.
        let bytes = bincode::serde::encode_to_vec(&d, bincode::config::standard()).unwrap();
        let (back, _): (Two, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(back, d);
        // Another set of details is another layout.
        assert_ne!(Two::layout(), Details::layout());
    }

    #[test]
    fn merging_nothing_changes_nothing_and_the_layout_is_stable() {
        let mut d = Details::default();
        d.merge(&DetailsInput::default());
        assert_eq!(d, Details::default());
        assert!(d.check().is_ok());
        assert_eq!(Details::layout(), Details::layout());
    }
}
