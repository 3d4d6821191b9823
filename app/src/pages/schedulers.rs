//! `/schedulers`: the user's schedulers (all for a superuser) with their trigger, next and
//! last run and run count; buttons to enable/disable and delete each; and a form to add
//! one, where a cron expression shows its next five runs as it is typed.

use leptos::either::Either;
use leptos::html::Form;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{list_schedulers, preview_cron, CreateScheduler, DeleteScheduler, ToggleScheduler};
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
    // A constant source, refetched after actions in the browser (see the users page).
    let list = Resource::new(|| (), |_| async move { list_schedulers().await });
    refetch_after(
        [create.version(), toggle.version(), delete.version()],
        move || list.refetch(),
    );
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
                        Ok(page) => Either::Left(view! { <SchedulerTable page toggle delete /> }),
                        Err(e) => Either::Right(view! { <p class="form-error" role="alert">{e.to_string()}</p> }),
                    }
                })}
            </Transition>
        </section>
        <section class="card" aria-labelledby="new-scheduler-title">
            <h2 id="new-scheduler-title">"Add a scheduler"</h2>
            <NewScheduler create />
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
        .map(|t| t.replace('T', " ").trim_end_matches('Z').to_string() + " UTC")
        .unwrap_or_else(|| "–".into())
}

#[component]
fn SchedulerTable(
    page: Page,
    toggle: ServerAction<ToggleScheduler>,
    delete: ServerAction<DeleteScheduler>,
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

#[component]
fn NewScheduler(create: ServerAction<CreateScheduler>) -> impl IntoView {
    let error = action_error(create);
    let form = NodeRef::<Form>::new();
    reset_on_success(create, form);
    let cron = RwSignal::new(String::new());
    let tz = RwSignal::new(String::from("UTC"));
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
    let select = |id: &'static str, label: &'static str, options: &'static [(&'static str, &'static str)]| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <select id=id name=id>
                    {options.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                </select>
            </div>
        }
    };
    view! {
        <ActionForm action=create node_ref=form>
            <div class="grid">
                <Field label="Name" name="name" autocomplete="off" required=true error />
                {select("trigger_type", "Trigger", &[("cron", "Cron schedule"), ("repeat", "Every N seconds"), ("on_start", "At start-up")])}
            </div>
            <div class="grid">
                <div class="field">
                    <label for="cron">"Cron expression (for cron)"</label>
                    <input id="cron" name="cron" autocomplete="off" placeholder="*/15 * * * *" spellcheck="false"
                        aria-describedby="cron-error" on:input=move |e| cron.set(event_target_value(&e)) />
                    {move || error.get().and_then(|e| e.for_field("cron")).map(|m| view! { <p class="field-error" id="cron-error">{m}</p> })}
                </div>
                <div class="field">
                    <label for="timezone">"Time zone (for cron)"</label>
                    <input id="timezone" name="timezone" value="UTC" autocomplete="off"
                        on:input=move |e| tz.set(event_target_value(&e)) />
                </div>
                <Field label="Every (seconds, for repeat)" name="repeat_every_seconds" kind="number" error />
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
                <Field label="Job name" name="job_name" autocomplete="off" required=true error />
                {select("job_kind", "Job type", &[("script", "script"), ("command", "command (superusers)"), ("api_post", "api_post")])}
                <Field label="Script, command or URL" name="job_command" autocomplete="off" required=true error />
            </div>
            <FormError error fields=&["name", "cron", "repeat_every_seconds", "job_name", "job_command"] />
            <button type="submit" class="button primary" disabled=move || create.pending().get()>
                "Create scheduler"
            </button>
        </ActionForm>
    }
}
