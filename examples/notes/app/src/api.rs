//! The server functions of the notes page: thin adapters over `crate::server`, as vcore's
//! own are over `vcore_domain`. `vcore_app::api::ctx` gives the signed-in user and the
//! services.

use leptos::prelude::*;
use vcore_app::types::AppError;

use crate::types::{Note, NotesPage};

/// The caller's notes, newest first.
#[server]
pub async fn list_notes() -> Result<NotesPage, AppError> {
    use vcore_app::api::ctx;
    let (me, svc) = (ctx::user().await?, ctx::services()?);
    let data = crate::server::list(&svc, &me).await?;
    Ok(NotesPage {
        count: data.len() as i64,
        data,
    })
}

/// One of the caller's notes.
#[server]
pub async fn get_note(id: i64) -> Result<Note, AppError> {
    use vcore_app::api::ctx;
    let (me, svc) = (ctx::user().await?, ctx::services()?);
    Ok(crate::server::get(&svc, &me, id).await?)
}

/// Adds a note of the caller's.
#[server]
pub async fn add_note(title: String, #[server(default)] body: String) -> Result<Note, AppError> {
    use vcore_app::api::ctx;
    let (me, svc) = (ctx::user().await?, ctx::services()?);
    let input = crate::types::NoteCreate { title, body };
    Ok(crate::server::create(&svc, &me, input).await?)
}

/// Deletes one of the caller's notes.
#[server]
pub async fn delete_note(id: i64) -> Result<(), AppError> {
    use vcore_app::api::ctx;
    let (me, svc) = (ctx::user().await?, ctx::services()?);
    Ok(crate::server::delete(&svc, &me, id).await?)
}
