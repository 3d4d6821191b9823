//! `/audit` (superusers): the audit log, newest first, filtered through the address
//! (`?actor=alice&action=job.`), so a filter is a link and works without JavaScript.

use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::api::list_audit;
use crate::pages::loading;
use crate::types::{AppError, AuditEntryPublic, AuditPage as Page};

/// Rows per page.
const PAGE: i64 = 50;
const FIELDS: [(&str, &str); 7] = [
    ("actor", "Actor (name or id)"),
    ("action", "Action (e.g. job.kill, or job.)"),
    ("target_type", "Target type"),
    ("target_id", "Target id"),
    ("outcome", "Outcome"),
    ("since", "Since (RFC 3339)"),
    ("until", "Until (RFC 3339)"),
];

#[derive(Debug, Clone, PartialEq, Default)]
struct Filter {
    values: Vec<(String, String)>,
    offset: i64,
}

impl Filter {
    fn get(&self, k: &str) -> String {
        self.values
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    fn href(&self, offset: i64) -> String {
        let mut parts: Vec<String> = self
            .values
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        if offset > 0 {
            parts.push(format!("offset={offset}"));
        }
        match parts.is_empty() {
            true => "/audit".into(),
            false => format!("/audit?{}", parts.join("&")),
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
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        query.with(|q| Filter {
            values: FIELDS
                .iter()
                .map(|(k, _)| (k.to_string(), q.get(k).unwrap_or_default()))
                .collect(),
            offset: q.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0).max(0),
        })
    });
    let entries = Resource::new(
        move || filter.get(),
        |f| async move {
            list_audit(
                f.get("actor"),
                f.get("action"),
                f.get("target_type"),
                f.get("target_id"),
                f.get("outcome"),
                f.get("since"),
                f.get("until"),
                Some(f.offset),
                Some(PAGE),
            )
            .await
        },
    );
    view! {
        <Title text="Audit log" />
        <header class="page-head">
            <h1>"Audit log"</h1>
        </header>
        <form method="get" action="/audit" class="filters" aria-label="Filter the audit log">
            {FIELDS
                .iter()
                .map(|(k, label)| {
                    let id = format!("audit-{k}");
                    view! {
                        <div class="field inline">
                            <label for=id.clone()>{*label}</label>
                            <input id=id name=*k value=move || filter.get().get(k) autocomplete="off" />
                        </div>
                    }
                })
                .collect_view()}
            <button type="submit" class="button">"Filter"</button>
        </form>
        <section class="card">
            <Transition fallback=loading>
                {move || Suspend::new(async move {
                    let f = filter.get_untracked();
                    match entries.await {
                        Ok(page) => Either::Left(view! { <AuditTable page filter=f /> }),
                        Err(AppError::Forbidden(_)) => Either::Right(view! {
                            <p class="notice" role="alert">"You don't have access to this page"</p>
                        }),
                        Err(e) => Either::Right(view! { <p class="form-error" role="alert">{e.to_string()}</p> }),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn AuditTable(page: Page, filter: Filter) -> impl IntoView {
    let count = page.count;
    let rows = page
        .data
        .into_iter()
        .map(|e| view! { <AuditRow e /> })
        .collect_view();
    let prev = (filter.offset > 0).then(|| filter.href((filter.offset - PAGE).max(0)));
    let next = (filter.offset + PAGE < count).then(|| filter.href(filter.offset + PAGE));
    view! {
        <p class="muted">{format!("{count} entries")}</p>
        <div class="table-wrap">
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"Actor"</th>
                        <th scope="col">"Action"</th>
                        <th scope="col">"Target"</th>
                        <th scope="col">"Outcome"</th>
                        <th scope="col">"From"</th>
                        <th scope="col">"Detail"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages">
            {prev.map(|h| view! { <A href=h>"Newer"</A> })}
            {next.map(|h| view! { <A href=h>"Older"</A> })}
        </nav>
    }
}

#[component]
fn AuditRow(e: AuditEntryPublic) -> impl IntoView {
    let actor = match (&e.actor_name, e.actor_id, e.actor_key_id) {
        (Some(n), _, Some(k)) => format!("{n} (key #{k})"),
        (Some(n), _, None) => n.clone(),
        (None, Some(id), _) => format!("user #{id}"),
        (None, None, _) => "–".into(),
    };
    let target = match (&e.target_type, &e.target_id) {
        (Some(t), Some(id)) => format!("{t} {id}"),
        _ => "–".into(),
    };
    let from = e.ip.clone().unwrap_or_else(|| "–".into());
    let agent = e.user_agent.clone().unwrap_or_default();
    let detail = e.detail.as_ref().map(|d| d.to_string()).unwrap_or_default();
    let class = format!("outcome {}", e.outcome);
    view! {
        <tr>
            <td><time datetime=e.at.clone()>{e.at.replace('T', " ").trim_end_matches('Z').to_string()}</time></td>
            <td>{actor}</td>
            <td><code>{e.action}</code></td>
            <td>{target}</td>
            <td><span class=class>{e.outcome.clone()}</span></td>
            <td title=agent>{from}</td>
            <td class="clip"><code>{detail}</code></td>
        </tr>
    }
}
