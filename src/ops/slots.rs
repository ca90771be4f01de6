//! The requests and answers of the slot routes (`/api/v2/slots…`), which
//! the API takes and renders and the CLI sends and reads back.

use serde::{Deserialize, Serialize};

use crate::coord::slots::{Permit, Slot, SlotScope};

/// `GET /api/v2/slots`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Slots {
    pub slots: Vec<Slot>,
}

/// `PUT /api/v2/slots/{name}`: create a slot or change its size. The
/// answer is the `Slot`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSlot {
    pub permits: u32,
    /// `machine`: one slot every project shares (kept once, on the
    /// server); `project` (what a new slot is unless told): this
    /// project's alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<SlotScope>,
}

/// `POST /api/v2/slots/{name}/acquire`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acquire {
    pub agent_id: String,
    /// How long the permit lasts (`10m` when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// How long to wait for a free permit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    /// The size of the slot, when this creates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permits: Option<u32>,
}

/// Its answer: the permit taken and how full the slot is now.
#[derive(Debug, Serialize, Deserialize)]
pub struct Acquired {
    pub permit: Permit,
    pub slot: String,
    pub in_use: usize,
    pub permits: u32,
}

/// `POST /api/v2/slots/{name}/release`: the permit named, or all of the
/// agent's.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSlot {
    pub agent_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permit_id: Option<String>,
}

/// Its answer: how many permits ended.
#[derive(Debug, Serialize, Deserialize)]
pub struct SlotReleased {
    pub released: usize,
}
