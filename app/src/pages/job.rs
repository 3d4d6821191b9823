//! `/jobs/{id}`: one job: its fields and timings, its output, and what may be done to it
//! (kill while running, retry once ended, cancel before it starts, delete unless running).
//! In the browser the job-queue socket keeps it current: status changes reload the job,
//! and the output follows the running job line by line (follow mode, with a switch).
//! Output keeps its ANSI colours (as CSS classes, text never parsed as HTML); a search box
//! narrows it to the matching lines; long output shows its end, and the whole log downloads.

use std::sync::Arc;

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_params_map};
use serde_json::json;

use crate::api::{get_job, read_job_log, DeleteJob, KillJob, SetJobStatus};
use crate::components::ansi::{self, Style};
use crate::components::forms::{action_error, first_error, refetch_after, FormError};
use crate::components::live::{use_live, Live};
use crate::pages::jobs::StatusBadge;
use crate::pages::{bytes, loading};
use crate::types::{human_duration, JobPublic};

#[component]
pub fn JobPage() -> impl IntoView {
    let params = use_params_map();
    let id =
        Memo::new(move |_| params.with(|p| p.get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0)));
    let job = Resource::new(move || id.get(), |id| async move { get_job(id).await });
    // The output so far; live lines are appended in the browser.
    let log = Resource::new(
        move || id.get(),
        |id| async move { read_job_log(id, 0, true).await },
    );
    let live = LiveLines::new();
    let kill = ServerAction::<KillJob>::new();
    let status = ServerAction::<SetJobStatus>::new();
    let delete = ServerAction::<DeleteJob>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            navigate("/jobs", Default::default());
        }
    });
    refetch_after([kill.version(), status.version()], move || job.refetch());
    use_live(move |socket, msg| match msg {
        // Subscribe on every (re)connect.
        Live::Opened => socket.send(&json!({ "type": "subscribe_logs", "job_id": id.get_untracked() })),
        Live::Message(v) => match v["type"].as_str() {
            // From here on lines arrive live: reload what was written before.
            Some("subscribed") if v["job_id"].as_i64() == Some(id.get_untracked()) => {
                live.clear();
                log.refetch();
                job.refetch();
            }
            Some("job") if v["job_id"].as_i64() == Some(id.get_untracked()) => {
                job.refetch();
                // A retry starts a new attempt: its output is read afresh.
                if v["status"] == "queued" {
                    live.clear();
                    log.refetch();
                }
            }
            Some("log") if v["job_id"].as_i64() == Some(id.get_untracked()) => {
                live.push(v["line"].as_str().unwrap_or_default(), v["end"].as_u64());
            }
            Some("resync") => job.refetch(),
            _ => {}
        },
    });
    view! {
        <Title text=move || format!("Job {}", id.get()) />
        <p class="crumbs"><A href="/jobs">"Jobs"</A></p>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match job.await {
                    Ok(j) => Either::Left(view! { <JobView job=j kill status delete /> }),
                    Err(e) => Either::Right(view! {
                        <h1>"Job"</h1>
                        <p class="form-error" role="alert">{e.to_string()}</p>
                    }),
                }
            })}
        </Transition>
        <section class="card" aria-labelledby="log-title">
            <LogView id log live />
        </section>
    }
}

#[component]
fn JobView(
    job: JobPublic,
    kill: ServerAction<KillJob>,
    status: ServerAction<SetJobStatus>,
    delete: ServerAction<DeleteJob>,
) -> impl IntoView {
    let id = job.id;
    let error = first_error([action_error(kill), action_error(status), action_error(delete)]);
    let running = job.status == "running";
    let ended = matches!(job.status.as_str(), "done" | "failed" | "cancelled");
    let waiting = matches!(job.status.as_str(), "pending" | "queued");
    let fact = |label: &'static str, value: String| {
        view! {
            <div>
                <dt>{label}</dt>
                <dd>{value}</dd>
            </div>
        }
    };
    let time = |t: &Option<String>| {
        t.clone()
            .map(|t| t.replace('T', " "))
            .unwrap_or_else(|| "–".into())
    };
    view! {
        <header class="page-head row">
            <h1>{format!("#{} {}", job.id, job.name)}</h1>
            <StatusBadge status=job.status.clone() />
        </header>
        <section class="card" aria-label="Actions">
            <div class="actions">
                {running.then(|| view! {
                    <button class="button" on:click=move |_| { kill.dispatch(KillJob { id }); }>"Kill"</button>
                })}
                {ended.then(|| view! {
                    <button class="button" on:click=move |_| { status.dispatch(SetJobStatus { id, status: "queued".into() }); }>"Retry"</button>
                })}
                {waiting.then(|| view! {
                    <button class="button" on:click=move |_| { status.dispatch(SetJobStatus { id, status: "cancelled".into() }); }>"Cancel"</button>
                })}
                {(!running).then(|| view! {
                    <button class="button danger" on:click=move |_| { delete.dispatch(DeleteJob { id }); }>"Delete"</button>
                })}
            </div>
            <FormError error fields=&[] />
        </section>
        <section class="card" aria-label="Details">
            <dl class="facts">
                {fact("Type", job.kind.clone())}
                {fact("Command", job.command.clone())}
                {fact("Queue", job.queue_name.clone())}
                {fact("Priority", job.priority.clone())}
                {fact("Attempts", format!("{} of {}", job.attempts, job.max_attempts))}
                {fact("Exit code", job.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "–".into()))}
                {fact("Created", job.created_at.replace('T', " "))}
                {fact("Started", time(&job.started_at))}
                {fact("Finished", time(&job.finished_at))}
                {fact("Duration", job.duration_ms.map(human_duration).unwrap_or_else(|| "–".into()))}
            </dl>
            {job.error.clone().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            {job.result.clone().map(|r| view! { <h2>"Result"</h2><pre class="log">{r}</pre> })}
        </section>
    }
}

/// Most live lines kept on the page; older ones are dropped (the download has them all).
const LIVE_MAX: usize = 5_000;

/// (key, where it ends in the log file, text).
type LiveLine = (u64, Option<u64>, Arc<str>);

/// Lines that arrived over the socket since the subscription, numbered (the key of each
/// line's row, so a new line renders alone), with where each ends in the log file: the page
/// shows only those past the end of the log it read, so a line written between the
/// subscription and the read of the log shows once.
#[derive(Clone, Copy)]
struct LiveLines {
    lines: RwSignal<Vec<LiveLine>>,
    next: StoredValue<u64>,
}

impl LiveLines {
    fn new() -> Self {
        LiveLines {
            lines: RwSignal::new(Vec::new()),
            next: StoredValue::new(0),
        }
    }

    fn clear(&self) {
        self.lines.set(Vec::new());
    }

    fn push(&self, line: &str, end: Option<u64>) {
        let n = self.next.get_value();
        self.next.set_value(n + 1);
        self.lines.update(|l| {
            if l.len() >= LIVE_MAX {
                l.drain(..l.len() + 1 - LIVE_MAX);
            }
            l.push((n, end, Arc::from(line)));
        });
    }

    /// The lines that come after byte `read` of the log (lines not in the file count too).
    fn after(&self, read: u64) -> Vec<(u64, Arc<str>)> {
        self.lines.with(|l| {
            l.iter()
                .filter(|(_, end, _)| end.is_none_or(|e| e > read))
                .map(|(n, _, line)| (*n, line.clone()))
                .collect()
        })
    }
}

/// The lines of `text` and `live` that contain `q` (any case, colours ignored).
fn matching(text: &str, live: &[(u64, Arc<str>)], q: &str) -> Vec<String> {
    let q = q.to_lowercase();
    text.lines()
        .chain(live.iter().map(|(_, l)| &**l))
        .filter(|l| ansi::plain(l).to_lowercase().contains(&q))
        .map(str::to_string)
        .collect()
}

#[component]
fn LogView(
    id: Memo<i64>,
    log: Resource<Result<crate::types::JobLog, crate::types::AppError>>,
    live: LiveLines,
) -> impl IntoView {
    let follow = RwSignal::new(true);
    let query = RwSignal::new(String::new());
    let pre = NodeRef::<leptos::html::Pre>::new();
    // Follow mode: keep the newest line in view as lines arrive.
    Effect::new(move |_| {
        live.lines.track();
        if follow.get_untracked() {
            if let Some(el) = pre.get() {
                el.set_scroll_top(el.scroll_height());
            }
        }
    });
    view! {
        <div class="row log-tools">
            <h2 id="log-title">"Output"</h2>
            <input type="search" class="log-search" placeholder="Search the output" aria-label="Search the output"
                prop:value=move || query.get() on:input=move |e| query.set(event_target_value(&e)) />
            <label class="check">
                <input type="checkbox" prop:checked=move || follow.get() on:change=move |e| follow.set(event_target_checked(&e)) />
                <span>"Follow"</span>
            </label>
            <a class="button small" href=move || format!("/api/v1/jobs/{}/log/download", id.get()) download="" rel="external">
                "Download"
            </a>
        </div>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let (text, skipped, read) = match log.await {
                    Ok(l) => (l.content, l.offset, l.next_offset),
                    Err(e) => (format!("({e})"), 0, 0),
                };
                let text = Arc::<str>::from(text);
                // The lines matching the search (None while there is none), worked out once
                // for the count and the output.
                let shown = text.clone();
                let found = Memo::new(move |_| {
                    let q = query.get();
                    (!q.is_empty()).then(|| matching(&shown, &live.after(read), &q))
                });
                let count = move || {
                    found.with(|f| {
                        f.as_ref().map(|lines| match lines.len() {
                            1 => "1 matching line".to_string(),
                            n => format!("{n} matching lines"),
                        })
                    })
                };
                let body = move || match found.get() {
                    None => Either::Left(view! {
                        {ansi::render(&text, &mut Style::default())}
                        <For
                            each=move || live.after(read)
                            key=|(n, _)| *n
                            children=|(_, line)| view! {
                                {ansi::render(&line, &mut Style::default())}"\n"
                            }
                        />
                    }),
                    Some(lines) => Either::Right(
                        lines
                            .into_iter()
                            .map(|l| view! { {ansi::render(&l, &mut Style::default())}"\n" })
                            .collect_view(),
                    ),
                };
                view! {
                    {(skipped > 0).then(|| view! {
                        <p class="muted">{format!(
                            "Showing the end of the output; the first {} are left out. Download it for the whole log.",
                            bytes(skipped)
                        )}</p>
                    })}
                    <p class="muted" role="status">{count}</p>
                    <pre class="log" node_ref=pre aria-label="Job output" tabindex="0">{body}</pre>
                }
            })}
        </Transition>
    }
}
