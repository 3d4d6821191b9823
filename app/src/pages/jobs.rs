//! `/jobs`: the jobs the user may see (all for a superuser), newest first, filtered by
//! status, queue and priority through the address (`?status=failed&offset=50`), so a filter
//! is a link and works without JavaScript. The server renders the first page; in the
//! browser the job-queue socket takes over and the list reloads when jobs change.
//!
//! Rows can be selected (one by one, or the whole page) for a bulk retry, kill or delete; the
//! server acts on the jobs it may and says why it left the others alone.
//!
//! `/jobs/new`: a form for each job type; the server's messages appear next to the fields.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{list_jobs, BulkJobs, CreateJob};
use crate::components::forms::{action_error, refetch_after, Field, FormError};
use crate::components::live::reload_on_job_changes;
use crate::pages::loading;
use crate::types::{human_duration, BulkResult, JobPublic, JobsPage as Page};

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
    reload_on_job_changes(
        move || jobs.refetch(),
        std::time::Duration::from_millis(300),
        move || jobs.get_untracked().and_then(|p| p.ok()).map(|p| p.seq),
    );
    // The selection survives live reloads of the page, not a change of filter or page.
    let selected = RwSignal::new(Vec::<i64>::new());
    Effect::new(move |_| {
        filter.track();
        selected.set(Vec::new());
    });
    let bulk = ServerAction::<BulkJobs>::new();
    refetch_after([bulk.version()], move || {
        selected.set(Vec::new());
        jobs.refetch();
    });
    view! {
        <Title text="Jobs" />
        <header class="page-head row">
            <h1>"Jobs"</h1>
            <A href="/jobs/new" attr:class="button primary">"New job"</A>
        </header>
        <FilterForm filter />
        <BulkBar selected bulk />
        <section class="card">
            <Transition fallback=loading>
                {move || Suspend::new(async move {
                    let f = filter.get_untracked();
                    match jobs.await {
                        Ok(page) => Either::Left(view! { <JobTable page filter=f selected /> }),
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

/// The selection's count and what can be done to it, with the outcome of the last action.
#[component]
fn BulkBar(selected: RwSignal<Vec<i64>>, bulk: ServerAction<BulkJobs>) -> impl IntoView {
    let error = action_error(bulk);
    let none = move || selected.with(Vec::is_empty) || bulk.pending().get();
    let run = move |action: &'static str| {
        let ids = selected.get_untracked();
        if ids.is_empty() || (action == "delete" && !confirm_delete(ids.len())) {
            return;
        }
        bulk.dispatch(BulkJobs {
            action: action.into(),
            ids,
        });
    };
    let outcome = move || {
        bulk.value()
            .with(|v| v.as_ref().and_then(|r| r.as_ref().ok()).map(describe))
    };
    view! {
        <div class="bulk row" role="group" aria-label="Selected jobs">
            <span class="muted" aria-live="polite">
                {move || match selected.with(Vec::len) {
                    0 => "Select jobs to act on several at once".to_string(),
                    1 => "1 job selected".to_string(),
                    n => format!("{n} jobs selected"),
                }}
            </span>
            <button type="button" class="button small" disabled=none on:click=move |_| run("retry")>"Retry"</button>
            <button type="button" class="button small" disabled=none on:click=move |_| run("kill")>"Kill"</button>
            <button type="button" class="button small danger" disabled=none on:click=move |_| run("delete")>"Delete"</button>
        </div>
        <p class="form-status" role="status">{outcome}</p>
        <FormError error fields=&[] />
    }
}

/// Asks before a bulk delete (there is no undo). Always yes on the server, which never runs it.
fn confirm_delete(n: usize) -> bool {
    #[cfg(not(feature = "ssr"))]
    {
        let q = format!("Delete {n} job(s) and their logs?");
        window().confirm_with_message(&q).unwrap_or(false)
    }
    #[cfg(feature = "ssr")]
    {
        let _ = n;
        true
    }
}

/// "2 done; 1 skipped: #7 job 7 is running; kill it first".
fn describe(r: &BulkResult) -> String {
    let mut text = format!("{} done", r.done.len());
    if !r.skipped.is_empty() {
        let why: Vec<String> = r
            .skipped
            .iter()
            .take(5)
            .map(|s| format!("#{}: {}", s.id, s.reason))
            .collect();
        let more = r.skipped.len().saturating_sub(5);
        text.push_str(&format!("; {} skipped ({}", r.skipped.len(), why.join("; ")));
        if more > 0 {
            text.push_str(&format!("; {more} more"));
        }
        text.push(')');
    }
    text
}

#[component]
fn JobTable(page: Page, filter: Filter, selected: RwSignal<Vec<i64>>) -> impl IntoView {
    let count = page.count;
    if page.data.is_empty() {
        return Either::Left(view! { <p class="muted">"No jobs match."</p> });
    }
    let first = filter.offset + 1;
    let last = filter.offset + page.data.len() as i64;
    let prev = (filter.offset > 0).then(|| filter.href((filter.offset - PAGE).max(0)));
    let next = (last < count).then(|| filter.href(last));
    let ids: Vec<i64> = page.data.iter().map(|j| j.id).collect();
    let all_selected = {
        let ids = ids.clone();
        move || selected.with(|s| ids.iter().all(|id| s.contains(id)))
    };
    let toggle_all = move |on: bool| {
        selected.update(|s| {
            s.retain(|id| !ids.contains(id));
            if on {
                s.extend(ids.iter().copied());
            }
        })
    };
    let rows = page
        .data
        .into_iter()
        .map(|j| view! { <JobRow job=j selected /> })
        .collect_view();
    Either::Right(view! {
        <div class="table-wrap">
            <table class="table">
                <caption class="sr-only">"Jobs, newest first"</caption>
                <thead>
                    <tr>
                        <th scope="col" class="pick">
                            <input type="checkbox" aria-label="Select all jobs on this page"
                                prop:checked=all_selected
                                on:change=move |e| toggle_all(event_target_checked(&e)) />
                        </th>
                        <th scope="col">"#"</th>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Type"</th>
                        <th scope="col">"Queue"</th>
                        <th scope="col">"Priority"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Attempts"</th>
                        <th scope="col">"Took"</th>
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
fn JobRow(job: JobPublic, selected: RwSignal<Vec<i64>>) -> impl IntoView {
    let id = job.id;
    let href = format!("/jobs/{id}");
    let created = crate::types::short_time(&job.created_at);
    let pick = move |on: bool| {
        selected.update(|s| {
            s.retain(|x| *x != id);
            if on {
                s.push(id);
            }
        })
    };
    view! {
        <tr>
            <td class="pick">
                <input type="checkbox" aria-label=format!("Select job {id}")
                    prop:checked=move || selected.with(|s| s.contains(&id))
                    on:change=move |e| pick(event_target_checked(&e)) />
            </td>
            <td>{id}</td>
            <th scope="row"><A href=href>{job.name}</A></th>
            <td>{job.kind}</td>
            <td>{job.queue_name}</td>
            <td>{job.priority}</td>
            <td><StatusBadge status=job.status /></td>
            <td>{format!("{}/{}", job.attempts, job.max_attempts)}</td>
            <td>{job.duration_ms.map(human_duration).unwrap_or_else(|| "–".into())}</td>
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
    let command = RwSignal::new(String::new());
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
                        list=move || (kind.get() == "script").then_some("script-names")
                        on:input=move |e| command.set(event_target_value(&e))
                        aria-describedby="command-error" />
                    {move || error.get().and_then(|e| e.for_field("command")).map(|m| view! {
                        <p class="field-error" id="command-error">{m}</p>
                    })}
                </div>
                <ScriptHelp kind command />
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

/// For script jobs: the registered scripts (as the command's suggestions) and the chosen
/// one's description and input fields, from `list_scripts`.
#[component]
fn ScriptHelp(kind: RwSignal<String>, command: RwSignal<String>) -> impl IntoView {
    let scripts = Resource::new(|| (), |_| crate::api::list_scripts());
    let list = move || {
        scripts
            .get()
            .and_then(Result::ok)
            .map(|p| p.data)
            .unwrap_or_default()
    };
    let chosen = move || {
        let name = command.get();
        list().into_iter().find(|s| s.name == name.trim())
    };
    view! {
        <Transition>
            <datalist id="script-names">
                {move || list().into_iter().map(|s| view! { <option value=s.name.clone()>{s.description.clone()}</option> }).collect_view()}
            </datalist>
            {move || (kind.get() == "script").then(|| match chosen() {
                None => view! {
                    <p class="muted script-help">
                        "Scripts: " {list().into_iter().map(|s| s.name).collect::<Vec<_>>().join(", ")}
                    </p>
                }.into_any(),
                Some(s) => view! {
                    <div class="script-help" aria-live="polite">
                        <p>
                            <strong>{s.name.clone()}</strong> ": " {s.description.clone()}
                            {s.superuser_only.then_some(" (superusers only)")}
                        </p>
                        {(!s.fields.is_empty()).then(|| view! {
                            <p class="muted">"Input (meta): " {s.example.clone()}</p>
                            <ul class="script-fields">
                                {s.fields.iter().map(|f| view! {
                                    <li>
                                        <code>{f.name.clone()}</code> " (" {f.kind.clone()}
                                        {if f.required { ", required" } else { "" }} ")"
                                        {(!f.description.is_empty()).then(|| format!(": {}", f.description))}
                                    </li>
                                }).collect_view()}
                            </ul>
                        })}
                    </div>
                }.into_any(),
            })}
        </Transition>
    }
}
