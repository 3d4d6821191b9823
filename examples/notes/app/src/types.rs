//! The wire types of notes, shared by the REST resource, the server functions and the page.

use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// A note, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Note {
    pub id: i64,
    pub owner_id: i64,
    pub title: String,
    pub body: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// A new note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NoteCreate {
    /// 1 to 200 characters.
    pub title: String,
    /// Up to 10,000 characters.
    #[serde(default)]
    pub body: String,
}

/// The caller's notes, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NotesPage {
    pub data: Vec<Note>,
    pub count: i64,
}
