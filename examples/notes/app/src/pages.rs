//! `/notes` (the caller's notes and a form to add one) and `/notes/:id` (one note), inside
//! vcore's shell, built from vcore's form components.

use leptos::either::Either;
use leptos::html::Form;
use leptos::prelude::*;
use leptos_meta::Title;
use vcore_app::components::forms::{action_error, refetch_after, reset_on_success, Field, FormError};

use crate::api::{get_note, list_notes, AddNote, DeleteNote};

#[component]
pub fn NotesPage() -> impl IntoView {
    let add = ServerAction::<AddNote>::new();
    let delete = ServerAction::<DeleteNote>::new();
    let list = Resource::new(|| (), |_| list_notes());
    refetch_after([add.version(), delete.version()], move || list.refetch());
    let form = NodeRef::<Form>::new();
    reset_on_success(add, form);
    let error = action_error(add);
    view! {
        <Title text="Notes" />
        <header class="page-head">
            <h1>"Notes"</h1>
            <p class="muted">"Your notes (the notes example application)."</p>
        </header>
        <section class="card" aria-labelledby="add-note">
            <h2 id="add-note">"Add a note"</h2>
            <ActionForm action=add node_ref=form>
                <Field label="Title" name="title" autocomplete="off" required=true error />
                <div class="field">
                    <label for="body">"Text"</label>
                    <textarea id="body" name="body" rows="3"></textarea>
                </div>
                <FormError error fields=&["title", "body"] />
                <button type="submit" class="button primary" disabled=move || add.pending().get()>
                    "Add note"
                </button>
            </ActionForm>
        </section>
        <section class="card" aria-labelledby="your-notes">
            <h2 id="your-notes">"Your notes"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(page) if page.data.is_empty() => Either::Left(view! { <p class="muted">"No notes yet."</p> }.into_any()),
                        Ok(page) => Either::Left(view! {
                            <ul class="notes-list">
                                {page.data.into_iter().map(|note| view! {
                                    <li>
                                        <a href=format!("/notes/{}", note.id)>{note.title}</a>
                                        " "
                                        <button type="button" class="button small"
                                            on:click=move |_| { delete.dispatch(DeleteNote { id: note.id }); }>
                                            "Delete"
                                        </button>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any()),
                        Err(e) => Either::Right(view! { <p class="form-error" role="alert">{e.to_string()}</p> }),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
pub fn NotePage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<i64>().ok()));
    let note = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_note(id).await,
            None => Err(vcore_app::types::AppError::NotFound("Note not found".into())),
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match note.await {
                    Ok(n) => Either::Left(view! {
                        <Title text=n.title.clone() />
                        <header class="page-head">
                            <h1>{n.title}</h1>
                            <p class="muted">{n.created_at}</p>
                        </header>
                        <section class="card"><p class="note-body">{n.body}</p></section>
                        <p><a href="/notes">"All notes"</a></p>
                    }),
                    Err(e) => Either::Right(view! {
                        <Title text="Notes" />
                        <h1>"No such note"</h1>
                        <p class="form-error" role="alert">{e.to_string()}</p>
                        <p><a href="/notes">"All notes"</a></p>
                    }),
                }
            })}
        </Transition>
    }
}
