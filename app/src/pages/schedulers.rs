//! `/schedulers`: the user's schedulers (all for a superuser) with their trigger, next and
//! last run and run count; buttons to edit, enable/disable and delete each; and a form to
//! add one or edit one, where a cron expression shows its next five runs as it is typed.

use leptos::either::Either;
use leptos::html::Form;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{
    list_schedulers, preview_cron, CreateScheduler, DeleteScheduler, ToggleScheduler, UpdateScheduler,
};
use crate::components::forms::{
    action_error, first_error, refetch_after, reset_on_success, Field, FormError,
};
use crate::pages::loading;
use crate::types::{SchedulerPublic, SchedulersPage as Page};

#[component]
pub fn SchedulersPage() -> impl IntoView {
    let create = ServerAction::<CreateScheduler>::new();
    let toggle = ServerAction::<ToggleScheduler>::new();
    let delete = ServerAction::<DeleteScheduler>::new();
    let update = ServerAction::<UpdateScheduler>::new();
    // The scheduler being edited (None: the form adds one).
    let editing = RwSignal::new(None::<SchedulerPublic>);
    // A constant source, refetched after actions in the browser (see the users page).
    let list = Resource::new(|| (), |_| async move { list_schedulers().await });
    refetch_after(
        [
            create.version(),
            toggle.version(),
            delete.version(),
            update.version(),
        ],
        move || list.refetch(),
    );
    // A saved edit ends the editing.
    Effect::new(move |_| {
        if let Some(Ok(_)) = update.value().get() {
            editing.set(None);
        }
    });
    let row_error = first_error([action_error(toggle), action_error(delete)]);
    view! {
        <Title text="Schedulers" />
        <header class="page-head">
            <h1>"Schedulers"</h1>
            <p class="muted">"Jobs that run on their own: at start-up, every so often, or on a cron schedule."</p>
        </header>
        <section class="card">
            <FormError error=row_error fields=&[] />
            <Transition fallback=loading>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(page) => Either::Left(view! { <SchedulerTable page toggle delete editing /> }),
                        Err(e) => Either::Right(view! { <p class="form-error" role="alert">{e.to_string()}</p> }),
                    }
                })}
            </Transition>
        </section>
        <section class="card" aria-labelledby="scheduler-form-title">
            {move || match editing.get() {
                None => Either::Left(view! {
                    <h2 id="scheduler-form-title">"Add a scheduler"</h2>
                    <SchedulerForm create update editing=None />
                }),
                Some(s) => Either::Right(view! {
                    <h2 id="scheduler-form-title">{format!("Edit {}", s.name)}</h2>
                    <SchedulerForm create update editing=Some(s) />
                    <button type="button" class="button" on:click=move |_| editing.set(None)>"Cancel editing"</button>
                }),
            }}
        </section>
    }
}

fn trigger_text(s: &SchedulerPublic) -> String {
    match s.trigger_type.as_str() {
        "cron" => format!("cron {} ({})", s.cron.clone().unwrap_or_default(), s.timezone),
        "repeat" => format!("every {} s", s.repeat_every_seconds.unwrap_or_default()),
        _ => "at start-up".into(),
    }
}

fn when(t: &Option<String>) -> String {
    t.as_deref()
        .map(|t| crate::types::short_time(t) + " UTC")
        .unwrap_or_else(|| "–".into())
}

#[component]
fn SchedulerTable(
    page: Page,
    toggle: ServerAction<ToggleScheduler>,
    delete: ServerAction<DeleteScheduler>,
    editing: RwSignal<Option<SchedulerPublic>>,
) -> impl IntoView {
    if page.data.is_empty() {
        return Either::Left(view! { <p class="muted">"No schedulers yet."</p> });
    }
    let rows = page
        .data
        .into_iter()
        .map(|s| {
            let id = s.id;
            let verb = if s.enabled { "Disable" } else { "Enable" };
            let toggle_label = format!("{verb} {}", s.name);
            let delete_label = format!("Delete {}", s.name);
            let edit_label = format!("Edit {}", s.name);
            let this = s.clone();
            let job = s.job_template["command"].as_str().unwrap_or_default().to_string();
            view! {
                <tr>
                    <th scope="row">{s.name.clone()}</th>
                    <td>{trigger_text(&s)}</td>
                    <td><code>{job}</code></td>
                    <td>{if s.enabled { "Enabled" } else { "Disabled" }}</td>
                    <td>{when(&s.next_run_at)}</td>
                    <td>{when(&s.last_run_at)}</td>
                    <td>{s.run_count}</td>
                    <td class="actions">
                        <button class="button small" aria-label=edit_label
                            on:click=move |_| editing.set(Some(this.clone()))>"Edit"</button>
                        <button class="button small" aria-label=toggle_label
                            on:click=move |_| { toggle.dispatch(ToggleScheduler { id }); }>{verb}</button>
                        <button class="button small danger" aria-label=delete_label
                            on:click=move |_| { delete.dispatch(DeleteScheduler { id }); }>"Delete"</button>
                    </td>
                </tr>
            }
        })
        .collect_view();
    Either::Right(view! {
        <div class="table-wrap">
            <table class="table">
                <caption class="sr-only">"Schedulers"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Trigger"</th>
                        <th scope="col">"Job"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Next run"</th>
                        <th scope="col">"Last run"</th>
                        <th scope="col">"Runs"</th>
                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    })
}

/// The add form, or (with `editing`) the edit form of that scheduler, filled in.
#[component]
fn SchedulerForm(
    create: ServerAction<CreateScheduler>,
    update: ServerAction<UpdateScheduler>,
    editing: Option<SchedulerPublic>,
) -> impl IntoView {
    match editing {
        None => {
            let form = NodeRef::<Form>::new();
            reset_on_success(create, form);
            let error = action_error(create);
            Either::Left(view! {
                <ActionForm action=create node_ref=form>
                    <SchedulerFields error current=None />
                    <button type="submit" class="button primary" disabled=move || create.pending().get()>
                        "Create scheduler"
                    </button>
                </ActionForm>
            })
        }
        Some(s) => {
            let error = action_error(update);
            let id = s.id;
            Either::Right(view! {
                <ActionForm action=update>
                    <input type="hidden" name="id" value=id />
                    <SchedulerFields error current=Some(s) />
                    <button type="submit" class="button primary" disabled=move || update.pending().get()>
                        "Save changes"
                    </button>
                </ActionForm>
            })
        }
    }
}

/// The scheduler form's fields (named as the server functions' arguments), from `current`.
#[component]
fn SchedulerFields(
    error: Signal<Option<crate::types::AppError>>,
    current: Option<SchedulerPublic>,
) -> impl IntoView {
    let cur = current.unwrap_or_else(|| SchedulerPublic {
        trigger_type: "cron".into(),
        timezone: "UTC".into(),
        job_template: serde_json::json!({ "type": "script" }),
        ..Default::default()
    });
    let template = |k: &str| cur.job_template[k].as_str().unwrap_or_default().to_string();
    let (job_name, job_kind, job_command) = (template("name"), template("type"), template("command"));
    let cron = RwSignal::new(cur.cron.clone().unwrap_or_default());
    let tz = RwSignal::new(cur.timezone.clone());
    // The next runs, recomputed by the server as the expression is typed.
    let preview = Resource::new(
        move || (cron.get(), tz.get()),
        |(cron, tz)| async move {
            match cron.trim().is_empty() {
                true => Ok(String::new()),
                false => preview_cron(cron, tz).await,
            }
        },
    );
    let select = |id: &'static str,
                  label: &'static str,
                  options: &'static [(&'static str, &'static str)],
                  chosen: String| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <select id=id name=id>
                    {options
                        .iter()
                        .map(|(v, l)| view! { <option value=*v selected=*v == chosen>{*l}</option> })
                        .collect_view()}
                </select>
            </div>
        }
    };
    let every = cur
        .repeat_every_seconds
        .map(|n| n.to_string())
        .unwrap_or_default();
    view! {
        <div class="grid">
            <Field label="Name" name="name" value=cur.name.clone() autocomplete="off" required=true error />
            {select("trigger_type", "Trigger", &[("cron", "Cron schedule"), ("repeat", "Every N seconds"), ("on_start", "At start-up")], cur.trigger_type.clone())}
        </div>
        <div class="grid">
            <div class="field">
                <label for="cron">"Cron expression (for cron)"</label>
                <input id="cron" name="cron" autocomplete="off" placeholder="*/15 * * * *" spellcheck="false"
                    value=cur.cron.clone().unwrap_or_default()
                    aria-describedby="cron-error" on:input=move |e| cron.set(event_target_value(&e)) />
                {move || error.get().and_then(|e| e.for_field("cron")).map(|m| view! { <p class="field-error" id="cron-error">{m}</p> })}
            </div>
            <div class="field">
                <label for="timezone">"Time zone (for cron)"</label>
                <input id="timezone" name="timezone" autocomplete="off" value=cur.timezone.clone()
                    on:input=move |e| tz.set(event_target_value(&e)) />
            </div>
            <Field label="Every (seconds, for repeat)" name="repeat_every_seconds" kind="number" value=every error />
        </div>
        <Transition>
            {move || Suspend::new(async move {
                match preview.await {
                    Ok(text) if !text.is_empty() => Either::Left(view! {
                        <div class="preview">
                            <p class="muted">"Next runs"</p>
                            <pre class="log" aria-label="Next runs">{text}</pre>
                        </div>
                    }),
                    Ok(_) => Either::Right(None),
                    Err(e) => Either::Right(Some(view! { <p class="field-error" role="status">{e.for_field("cron").unwrap_or_else(|| e.to_string())}</p> })),
                }
            })}
        </Transition>
        <h3>"The job each run makes"</h3>
        <div class="grid">
            <Field label="Job name" name="job_name" value=job_name autocomplete="off" required=true error />
            {select("job_kind", "Job type", &[("script", "script"), ("command", "command (superusers)"), ("api_post", "api_post")], job_kind)}
            <Field label="Script, command or URL" name="job_command" value=job_command autocomplete="off" required=true error />
        </div>
        <FormError error fields=&["name", "cron", "repeat_every_seconds", "job_name", "job_command"] />
    }
}
