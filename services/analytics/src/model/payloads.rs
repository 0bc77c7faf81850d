//! What the model reads of each event's data: only the fields it keeps, each optional where an
//! older or partial event may lack it.

use serde::Deserialize;
use uuid::Uuid;

#[derive(Deserialize)]
pub(super) struct Created {
    pub(super) title: Option<String>,
    pub(super) customer: Option<String>,
    pub(super) region: Option<String>,
    pub(super) priority: Option<String>,
    pub(super) channel: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Categorized {
    pub(super) category: Option<String>,
    pub(super) confidence: Option<f32>,
    pub(super) method: Option<String>,
    pub(super) model: Option<String>,
    #[serde(default)]
    pub(super) needs_review: bool,
}

#[derive(Deserialize)]
pub(super) struct Recategorized {
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Placed {
    pub(super) category: Option<String>,
    pub(super) pool: Option<String>,
    pub(super) expert_id: Option<Uuid>,
    pub(super) expert_name: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Breached {
    pub(super) clock: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Unassigned {
    pub(super) expert_id: Option<Uuid>,
}

#[derive(Deserialize)]
pub(super) struct ExpertChanged {
    pub(super) expert_id: Uuid,
    pub(super) name: String,
    pub(super) availability: String,
    pub(super) capacity: u32,
    #[serde(default)]
    pub(super) skills: Vec<Skill>,
    #[serde(default)]
    pub(super) regions: Vec<String>,
}

#[derive(Deserialize)]
pub(super) struct Skill {
    pub(super) pool: String,
}

/// Parses what the model reads of an event's data; fields it cannot read stay unknown.
pub(super) fn parse<'de, T: Deserialize<'de>>(data: &'de serde_json::Value) -> Option<T> {
    T::deserialize(data).ok()
}
