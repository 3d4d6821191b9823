//! `/notes/`: the caller's notes over REST, in vcore's OpenAPI document (tag `notes`).
//! Thin handlers over `notes_app::server`, with vcore's extractors and errors.

use notes_app::types::{Note, NoteCreate, NotesPage};
use vcore_server::prelude::axum::extract::State;
use vcore_server::prelude::axum::http::StatusCode;
use vcore_server::prelude::axum::Json;
use vcore_server::prelude::utoipa_axum::{router::OpenApiRouter, routes};
use vcore_server::prelude::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notes, create_note))
        .routes(routes!(get_note, delete_note))
}

/// The caller's notes, newest first.
#[utoipa::path(get, path = "/notes/", tag = "notes", security(("bearer" = [])),
    responses((status = 200, body = NotesPage), (status = 401, body = ErrorBody)))]
async fn list_notes(State(svc): State<Services>, CurrentUser(me): CurrentUser) -> ApiResult<Json<NotesPage>> {
    let data = notes_app::server::list(&svc, &me).await?;
    Ok(Json(NotesPage {
        count: data.len() as i64,
        data,
    }))
}

/// Adds a note of the caller's.
#[utoipa::path(post, path = "/notes/", tag = "notes", security(("bearer" = [])), request_body = NoteCreate,
    responses((status = 201, body = Note), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_note(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(input): ValidJson<NoteCreate>,
) -> ApiResult<(StatusCode, Json<Note>)> {
    let note = notes_app::server::create(&svc, &me, input).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// One of the caller's notes (another user's is a 404).
#[utoipa::path(get, path = "/notes/{id}", tag = "notes", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The note's id")),
    responses((status = 200, body = Note), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_note(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<Note>> {
    Ok(Json(notes_app::server::get(&svc, &me, id).await?))
}

/// Deletes one of the caller's notes (another user's is a 404).
#[utoipa::path(delete, path = "/notes/{id}", tag = "notes", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The note's id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn delete_note(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    notes_app::server::delete(&svc, &me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
