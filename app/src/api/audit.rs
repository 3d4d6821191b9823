//! Server function for the audit log page (superusers; the domain refuses others with 403).

use leptos::prelude::*;

use crate::types::{AppError, AuditPage};

/// Entries, newest first; empty filters mean "any".
#[server]
#[allow(clippy::too_many_arguments)]
pub async fn list_audit(
    #[server(default)] actor: String,
    #[server(default)] action: String,
    #[server(default)] target_type: String,
    #[server(default)] target_id: String,
    #[server(default)] outcome: String,
    #[server(default)] since: String,
    #[server(default)] until: String,
    offset: Option<i64>,
    limit: Option<i64>,
) -> Result<AuditPage, AppError> {
    use super::ctx::filled;
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    let page = vcore_domain::users::Page::parse(offset, limit)?;
    let filter = vcore_domain::audit::AuditFilter {
        actor: filled(actor),
        action: filled(action),
        target_type: filled(target_type),
        target_id: filled(target_id),
        outcome: filled(outcome),
        since: filled(since),
        until: filled(until),
    };
    let (rows, count) = svc.list_audit(&me, filter, page).await?;
    Ok(AuditPage {
        data: rows.into_iter().map(Into::into).collect(),
        count,
    })
}
