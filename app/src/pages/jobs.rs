//! `/jobs`: the jobs the user may see (all for a superuser), newest first, filtered by
//! status, queue and priority through the address (`?status=failed&offset=50`), so a filter
//! is a link and works without JavaScript. The server renders the first page; in the
//! browser the job-queue socket takes over and the list reloads when jobs change.
//!
//! `/jobs/new`: a form for each job type; the server's messages appear next to the fields.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{list_jobs, CreateJob};
use crate::components::forms::{action_error, Field, FormError};
use crate::components::live::reload_on_job_changes;
use crate::pages::loading;
use crate::types::{JobPublic, JobsPage as Page};

/// Rows per page.
const PAGE: i64 = 50;
pub(crate) const STATUSES: [&str; 6] = ["pending", "queued", "running", "done", "failed", "cancelled"];
const PRIORITIES: [&str; 5] = ["highest", "high", "normal", "low", "lowest"];

#[derive(Debug, Clone, PartialEq, Default)]
struct Filter {
    status: String,
    queue_name: String,
    priority: String,
    name: String,
    offset: i64,
}

impl Filter {
    /// The address of this filter at `offset`.
    fn href(&self, offset: i64) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("status", &self.status),
            ("queue_name", &self.queue_name),
            ("priority", &self.priority),
            ("name", &self.name),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", urlencode(v)));
            }
        }
        if offset > 0 {
            parts.push(format!("offset={offset}"));
        }
        match parts.is_empty() {
            true => "/jobs".into(),
            false => format!("/jobs?{}", parts.join("&")),
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
pub fn JobsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|q| Filter {
            status: q.get("status").unwrap_or_default(),
            queue_name: q.get("queue_name").unwrap_or_default(),
            priority: q.get("priority").unwrap_or_default(),
            name: q.get("name").unwrap_or_default(),
            offset: q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0).max(0),
        })
    });
    let jobs = Resource::new(
        move || filter.get(),
        |f| async move {
            list_jobs(
                f.status,
                f.queue_name,
                f.priority,
                f.name,
                Some(f.offset),
                Some(PAGE),
            )
            .await
        },
    );
    // Any job change (or a reconnect) reloads the page of the list; bursts are coalesced
    // into one reload at most every 300 ms.
    reload_on_job_changes(move || jobs.refetch(), std::time::Duration::from_millis(300));
    view! {
        <Title text="Jobs" />
        <header class="page-head row">
            <h1>"Jobs"</h1>
            <A href="/jobs/new" attr:class="button primary">"New job"</A>
        </header>
        <FilterForm filter />
        <section class="card">
            <Transition fallback=loading>
                {move || Suspend::new(async move {
                    let f = filter.get_untracked();
                    match jobs.await {
                        Ok(page) => Either::Left(view! { <JobTable page filter=f /> }),
                        Err(e) => Either::Right(view! { <p class="form-error" role="alert">{e.to_string()}</p> }),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn FilterForm(filter: Memo<Filter>) -> impl IntoView {
    let f = move || filter.get();
    view! {
        <form method="get" action="/jobs" class="filters" aria-label="Filter jobs">
            <div class="field inline">
                <label for="filter-status">"Status"</label>
                <select id="filter-status" name="status">
                    <option value="" selected=move || f().status.is_empty()>"Any"</option>
                    {STATUSES
                        .iter()
                        .copied()
                        .map(|s| view! { <option value=s selected=move || f().status == s>{s}</option> })
                        .collect_view()}
                </select>
            </div>
            <div class="field inline">
                <label for="filter-priority">"Priority"</label>
                <select id="filter-priority" name="priority">
                    <option value="" selected=move || f().priority.is_empty()>"Any"</option>
                    {PRIORITIES
                        .iter()
                        .copied()
                        .map(|p| view! { <option value=p selected=move || f().priority == p>{p}</option> })
                        .collect_view()}
                </select>
            </div>
            <div class="field inline">
                <label for="filter-name">"Name contains"</label>
                <input id="filter-name" name="name" type="search" value=move || f().name autocomplete="off" />
            </div>
            <div class="field inline">
                <label for="filter-queue">"Queue"</label>
                <input id="filter-queue" name="queue_name" value=move || f().queue_name placeholder="any" />
            </div>
            <button type="submit" class="button">"Filter"</button>
        </form>
    }
}

#[component]
fn JobTable(page: Page, filter: Filter) -> impl IntoView {
    let count = page.count;
    if page.data.is_empty() {
        return Either::Left(view! { <p class="muted">"No jobs match."</p> });
    }
    let first = filter.offset + 1;
    let last = filter.offset + page.data.len() as i64;
    let prev = (filter.offset > 0).then(|| filter.href((filter.offset - PAGE).max(0)));
    let next = (last < count).then(|| filter.href(last));
    let rows = page
        .data
        .into_iter()
        .map(|j| view! { <JobRow job=j /> })
        .collect_view();
    Either::Right(view! {
        <div class="table-wrap">
            <table class="table">
                <caption class="sr-only">"Jobs, newest first"</caption>
                <thead>
                    <tr>
                        <th scope="col">"#"</th>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Queue"</th>
                        <th scope="col">"Priority"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Created"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages">
            <span class="muted">{format!("{first}–{last} of {count}")}</span>
            {prev.map(|h| view! { <A href=h>"Newer"</A> })}
            {next.map(|h| view! { <A href=h>"Older"</A> })}
        </nav>
    })
}

#[component]
fn JobRow(job: JobPublic) -> impl IntoView {
    let href = format!("/jobs/{}", job.id);
    let created = job.created_at.replace('T', " ").trim_end_matches('Z').to_string();
    view! {
        <tr>
            <td>{job.id}</td>
            <th scope="row"><A href=href>{job.name}</A></th>
            <td>{job.kind}</td>
            <td>{job.queue_name}</td>
            <td>{job.priority}</td>
            <td><StatusBadge status=job.status /></td>
            <td>{format!("{}/{}", job.attempts, job.max_attempts)}</td>
            <td><time datetime=job.created_at>{created}</time></td>
        </tr>
    }
}

/// A job's status as a coloured label (the colour repeats the word; it is not the only cue).
#[component]
pub fn StatusBadge(status: String) -> impl IntoView {
    let class = format!("badge status-{status}");
    view! { <span class=class>{status}</span> }
}

#[component]
pub fn NewJobPage() -> impl IntoView {
    let create = ServerAction::<CreateJob>::new();
    let error = action_error(create);
    let navigate = use_navigate();
    // On success, show the new job.
    Effect::new(move |_| {
        if let Some(Ok(job)) = create.value().get() {
            navigate(&format!("/jobs/{}", job.id), Default::default());
        }
    });
    let kind = RwSignal::new(String::from("script"));
    let command_label = move || match kind.get().as_str() {
        "command" => "Shell command",
        "api_post" => "URL to POST to",
        _ => "Script name",
    };
    view! {
        <Title text="New job" />
        <header class="page-head">
            <h1>"New job"</h1>
        </header>
        <section class="card" aria-labelledby="new-job-title">
            <h2 id="new-job-title" class="sr-only">"Job"</h2>
            <ActionForm action=create>
                <div class="grid">
                    <Field label="Name" name="name" autocomplete="off" required=true error />
                    <div class="field">
                        <label for="kind">"Type"</label>
                        <select id="kind" name="kind" on:change=move |e| kind.set(event_target_value(&e))>
                            <option value="script" selected=true>"script"</option>
                            <option value="command">"command (superusers)"</option>
                            <option value="api_post">"api_post"</option>
                        </select>
                    </div>
                </div>
                <div class="field">
                    <label for="command">{command_label}</label>
                    <input id="command" name="command" autocomplete="off" required=true
                        aria-describedby="command-error" />
                    {move || error.get().and_then(|e| e.for_field("command")).map(|m| view! {
                        <p class="field-error" id="command-error">{m}</p>
                    })}
                </div>
                <div class="grid">
                    <div class="field">
                        <label for="priority">"Priority"</label>
                        <select id="priority" name="priority">
                            {PRIORITIES
                                .iter()
                                .copied()
                                .map(|p| view! { <option value=p selected=p == "normal">{p}</option> })
                                .collect_view()}
                        </select>
                    </div>
                    <Field label="Queue" name="queue_name" value="default" autocomplete="off" error />
                    <Field label="Max attempts" name="max_attempts" kind="number" value="3" error />
                    <Field label="Timeout (seconds)" name="timeout_secs" kind="number" error />
                </div>
                <div class="field">
                    <label for="meta">"Meta (JSON: a script's input, a POST's body, a command's env and cwd)"</label>
                    <textarea id="meta" name="meta" rows="3" placeholder="{}" aria-describedby="meta-error"></textarea>
                    {move || error.get().and_then(|e| e.for_field("meta")).map(|m| view! {
                        <p class="field-error" id="meta-error">{m}</p>
                    })}
                </div>
                <FormError error fields=&["name", "command", "queue_name", "max_attempts", "timeout_secs", "meta"] />
                <button type="submit" class="button primary" disabled=move || create.pending().get()>
                    "Create job"
                </button>
            </ActionForm>
        </section>
    }
}
