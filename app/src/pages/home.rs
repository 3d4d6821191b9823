//! `/`: the dashboard. Jobs per queue, jobs finished per minute over the last hour (an SVG
//! chart drawn here), the latest failures and the running jobs; for superusers the machine's
//! CPU, memory, disk and uptime. Server-rendered first; in the browser, job changes on the
//! job-queue socket reload it (at most once a second) and the machine's state every 5 s.
//! Below: the account's facts and the ways onward.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::get_dashboard;
use crate::auth::use_auth;
use crate::components::live::reload_on_job_changes;
use crate::pages::jobs::StatusBadge;
use crate::pages::{bytes, day, loading};
use crate::types::{Dashboard as Data, JobPublic, MinuteCounts, NodesPage, SystemStatus, UserPublic};

#[component]
pub fn HomePage() -> impl IntoView {
    let auth = use_auth();
    let data = Resource::new(|| (), |_| async move { get_dashboard().await });
    // Job changes reload the numbers, at most once a second.
    reload_on_job_changes(
        move || data.refetch(),
        std::time::Duration::from_secs(1),
        move || data.get_untracked().and_then(|d| d.ok()).map(|d| d.seq),
    );
    // The machine's state moves without job events: read it again every 5 s.
    #[cfg(not(feature = "ssr"))]
    {
        if let Ok(handle) =
            set_interval_with_handle(move || data.refetch(), std::time::Duration::from_secs(5))
        {
            on_cleanup(move || handle.clear());
        }
    }
    view! {
        <Title text="Dashboard" />
        <Transition fallback=loading>
            {move || auth.current().map(|me| view! { <Welcome me /> })}
        </Transition>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => Either::Left(view! { <Numbers data=d /> }),
                    Err(e) => Either::Right(view! { <p class="form-error" role="alert">{e.to_string()}</p> }),
                }
            })}
        </Transition>
        <Transition fallback=loading>
            {move || auth.current().map(|me| view! { <Account me /> })}
        </Transition>
    }
}

#[component]
fn Welcome(me: UserPublic) -> impl IntoView {
    let name = me
        .full_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| me.username.clone());
    view! {
        <header class="page-head">
            <h1>{format!("Welcome, {name}")}</h1>
            <p class="muted">"Your workspace at a glance."</p>
        </header>
    }
}

#[component]
fn Numbers(data: Data) -> impl IntoView {
    let queues = data
        .queues
        .iter()
        .map(|q| {
            view! {
                <tr>
                    <th scope="row">{q.queue.clone()}</th>
                    <td>{q.pending}</td>
                    <td>{q.queued}</td>
                    <td>{q.running}</td>
                    <td>{q.done}</td>
                    <td>{q.failed}</td>
                    <td>{q.cancelled}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        {data.system.map(|s| view! { <System s /> })}
        {data.nodes.map(|nodes| view! { <Nodes nodes /> })}
        <div class="dash-grid">
            <section class="card" aria-labelledby="queues-title">
                <h2 id="queues-title">"Queues"</h2>
                <div class="table-wrap">
                    <table class="table">
                        <thead>
                            <tr>
                                <th scope="col">"Queue"</th>
                                <th scope="col">"Pending"</th>
                                <th scope="col">"Queued"</th>
                                <th scope="col">"Running"</th>
                                <th scope="col">"Done"</th>
                                <th scope="col">"Failed"</th>
                                <th scope="col">"Cancelled"</th>
                            </tr>
                        </thead>
                        <tbody>{queues}</tbody>
                    </table>
                </div>
            </section>
            <section class="card" aria-labelledby="throughput-title">
                <h2 id="throughput-title">"Last hour"</h2>
                <Throughput minutes=data.per_minute />
            </section>
            <section class="card" aria-labelledby="failures-title">
                <h2 id="failures-title">"Recent failures"</h2>
                <JobList jobs=data.recent_failures empty="No failures." />
            </section>
            <section class="card" aria-labelledby="running-title">
                <h2 id="running-title">"Running now"</h2>
                <JobList jobs=data.running empty="Nothing is running." />
            </section>
        </div>
    }
}

fn duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

fn percent(used: u64, total: u64) -> f64 {
    match total {
        0 => 0.0,
        t => used as f64 * 100.0 / t as f64,
    }
}

/// A labelled meter: the number in words, the bar for the eye.
#[component]
fn Meter(label: &'static str, value: f64, text: String) -> impl IntoView {
    view! {
        <div class="meter">
            <dt>{label}</dt>
            <dd>
                <span>{text}</span>
                <meter min="0" max="100" low="70" high="90" optimum="0" value=format!("{value:.0}") aria-label=label></meter>
            </dd>
        </div>
    }
}

#[component]
fn System(s: SystemStatus) -> impl IntoView {
    let mem = percent(s.memory_used, s.memory_total);
    let disk = percent(s.disk_used, s.disk_total);
    view! {
        <section class="card" aria-labelledby="system-title">
            <h2 id="system-title">"System"</h2>
            <dl class="facts">
                <Meter label="CPU" value=f64::from(s.cpu_percent) text=format!("{:.0} % of {} CPUs", s.cpu_percent, s.cpus) />
                <Meter label="Memory" value=mem text=format!("{} of {}", bytes(s.memory_used), bytes(s.memory_total)) />
                <Meter label="Disk (data)" value=disk text=format!("{} of {}", bytes(s.disk_used), bytes(s.disk_total)) />
                <div>
                    <dt>"Uptime"</dt>
                    <dd>{format!("vcore {} up {}; machine up {}", s.version, duration(s.process_uptime_secs), duration(s.system_uptime_secs))}</dd>
                </div>
            </dl>
        </section>
    }
}

/// The processes sharing the database: what each runs, when it last said it was alive,
/// which one runs the maintenance; and the queues stopped for all of them.
#[component]
fn Nodes(nodes: NodesPage) -> impl IntoView {
    let time = crate::types::short_time;
    let rows = nodes
        .data
        .iter()
        .map(|n| {
            let queues = match n.queues.is_empty() {
                true => "web only".to_string(),
                false => n
                    .queues
                    .iter()
                    .map(|q| format!("{} ×{}", q.name, q.concurrency))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            view! {
                <tr>
                    <th scope="row"><code>{n.id.clone()}</code></th>
                    <td>{n.kind.clone()}{n.leader.then_some(" · maintenance")}</td>
                    <td>{queues}</td>
                    <td>{n.version.clone()}</td>
                    <td><time datetime=n.started_at.clone()>{time(&n.started_at)}</time></td>
                    <td><time datetime=n.heartbeat_at.clone()>{time(&n.heartbeat_at)}</time></td>
                </tr>
            }
        })
        .collect_view();
    let paused = (!nodes.paused_queues.is_empty()).then(|| {
        view! { <p class="muted">{format!("Stopped on every node: {}", nodes.paused_queues.join(", "))}</p> }
    });
    view! {
        <section class="card" aria-labelledby="nodes-title">
            <h2 id="nodes-title">{format!("Nodes ({})", nodes.count)}</h2>
            <div class="table-wrap">
                <table class="table">
                    <thead>
                        <tr>
                            <th scope="col">"Node"</th>
                            <th scope="col">"Kind"</th>
                            <th scope="col">"Queues"</th>
                            <th scope="col">"Version"</th>
                            <th scope="col">"Started"</th>
                            <th scope="col">"Last heartbeat"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            {paused}
        </section>
    }
}

/// Jobs ended per minute over the last hour: one bar per minute, done below, failed on top.
#[component]
fn Throughput(minutes: Vec<MinuteCounts>) -> impl IntoView {
    let (done, failed): (i64, i64) = minutes
        .iter()
        .fold((0, 0), |(d, f), m| (d + m.done, f + m.failed));
    let peak = minutes
        .iter()
        .map(|m| m.done + m.failed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (w, h, bar) = (600.0, 120.0, 10.0);
    let bars = minutes
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let x = i as f64 * bar;
            let dh = m.done as f64 / peak * h;
            let fh = m.failed as f64 / peak * h;
            let ago = minutes.len() - i;
            view! {
                <g>
                    <title>{format!("{ago} min ago: {} done, {} failed", m.done, m.failed)}</title>
                    <rect class="bar-done" x=x y=h - dh width=bar - 2.0 height=dh />
                    <rect class="bar-failed" x=x y=h - dh - fh width=bar - 2.0 height=fh />
                </g>
            }
        })
        .collect_view();
    let summary =
        format!("{done} jobs done and {failed} failed in the last hour; the busiest minute had {peak:.0}.");
    view! {
        <p class="muted">{summary.clone()}</p>
        <svg class="chart" viewBox=format!("0 0 {w} {h}") role="img" aria-label=summary preserveAspectRatio="none">
            {bars}
        </svg>
        <p class="legend"><span class="key key-done"></span>"done " <span class="key key-failed"></span>"failed"</p>
    }
}

#[component]
fn JobList(jobs: Vec<JobPublic>, empty: &'static str) -> impl IntoView {
    if jobs.is_empty() {
        return Either::Left(view! { <p class="muted">{empty}</p> });
    }
    let items = jobs
        .into_iter()
        .map(|j| {
            let href = format!("/jobs/{}", j.id);
            let detail = j.error.clone().unwrap_or_default();
            view! {
                <li>
                    <A href=href>{format!("#{} {}", j.id, j.name)}</A>
                    " "
                    <StatusBadge status=j.status />
                    <span class="muted clip">{detail}</span>
                </li>
            }
        })
        .collect_view();
    Either::Right(view! { <ul class="job-list">{items}</ul> })
}

#[component]
fn Account(me: UserPublic) -> impl IntoView {
    let role = crate::pages::users::role_name(me.role);
    let since = day(&me.created_at).to_string();
    view! {
        <section class="card" aria-labelledby="account-title">
            <h2 id="account-title">"Your account"</h2>
            <dl class="facts">
                <div>
                    <dt>"Username"</dt>
                    <dd>{me.username}</dd>
                </div>
                <div>
                    <dt>"Email"</dt>
                    <dd>{me.email}</dd>
                </div>
                <div>
                    <dt>"Role"</dt>
                    <dd>{role}</dd>
                </div>
                <div>
                    <dt>"Member since"</dt>
                    <dd><time datetime=me.created_at>{since}</time></dd>
                </div>
            </dl>
        </section>
        // Link names differ from the main navigation's ("Users", "Profile", "API docs") so
        // that each accessible name on the page is unique.
        <section aria-labelledby="onward-title">
            <h2 id="onward-title">"Where to next"</h2>
            <ul class="tiles">
                {me.is_superuser.then(|| view! {
                    <li>
                        <A href="/users">
                            <strong>"Manage accounts"</strong>
                            <span>"Create, activate and deactivate accounts"</span>
                        </A>
                    </li>
                })}
                <li>
                    <A href="/profile">
                        <strong>"Account settings"</strong>
                        <span>"Email, name and password"</span>
                    </A>
                </li>
                <li>
                    <a href="/docs" rel="external">
                        <strong>"REST reference"</strong>
                        <span>"OpenAPI documentation for scripts and integrations"</span>
                    </a>
                </li>
            </ul>
        </section>
    }
}
