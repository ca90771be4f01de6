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
    ($( $(#[doc = $doc:literal])* $name:ident: $ty:ty, )*) => {
        /// A task's details (see the module's documentation). Flattened
        /// into the task's JSON; read with their defaults from records
        /// written before a field existed.
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        pub struct Details {
            $( $(#[doc = $doc])* #[serde(default)] pub $name: $ty, )*
        }

        /// The details a create or an update gives; each one left out is
        /// left as it was.
        #[serde_with::skip_serializing_none]
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct DetailsInput {
            $( $(#[doc = $doc])* pub $name: Option<$ty>, )*
        }

        impl Details {
            /// Takes every detail `input` gives.
            pub fn merge(&mut self, input: &DetailsInput) {
                let _ = input;
                $( if let Some(v) = &input.$name { self.$name = v.clone(); } )*
            }
        }
    };
}

details! {}

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

    /// What the compact form's layout of the details depends on: the
    /// fields' names and default encodings. A snapshot written with
    /// another layout is not read (the view is rebuilt from the records).
    pub fn layout() -> u32 {
        crc32fast::hash(
            serde_json::to_string(&Details::default())
                .unwrap_or_default()
                .as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_nothing_changes_nothing_and_the_layout_is_stable() {
        let mut d = Details::default();
        d.merge(&DetailsInput::default());
        assert_eq!(d, Details::default());
        assert!(d.check().is_ok());
        assert_eq!(Details::layout(), Details::layout());
    }
}
