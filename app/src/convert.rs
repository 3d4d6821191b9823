//! Server side only: conversions between the domain layer and the wire types, so that REST
//! handlers and server functions map results the same way. Internal errors are logged here,
//! once, with their cause chain; the client sees only "Internal server error".

use vcore_domain::users::{NewUser, User, UserChanges};
use vcore_domain::DomainError;

use crate::types::*;

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, message } => AppError::Invalid { field, message },
            DomainError::Unauthorized(m) => AppError::Unauthorized(m),
            DomainError::Forbidden(m) => AppError::Forbidden(m),
            DomainError::NotFound(m) => AppError::NotFound(m),
            DomainError::Conflict(m) => AppError::Conflict(m),
            DomainError::TooManyRequests(m) => AppError::TooManyRequests(m),
            DomainError::Unavailable(m) => AppError::Unavailable(m),
            DomainError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                AppError::Internal
            }
        }
    }
}

fn rfc3339(t: &chrono::NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl From<&User> for UserPublic {
    fn from(u: &User) -> Self {
        UserPublic {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            is_active: u.is_active,
            is_superuser: u.is_superuser,
            role: UserRole::from_name(&u.role),
            created_at: rfc3339(&u.created_at),
            updated_at: rfc3339(&u.updated_at),
        }
    }
}

impl From<User> for UserPublic {
    fn from(u: User) -> Self {
        UserPublic::from(&u)
    }
}

impl From<UserCreate> for NewUser {
    fn from(c: UserCreate) -> Self {
        NewUser {
            username: c.username,
            email: c.email,
            password: c.password,
            full_name: c.full_name,
            is_active: c.is_active,
            is_superuser: c.is_superuser,
            role: c.role.map(|r| r.as_str().into()),
        }
    }
}

impl From<UserUpdate> for UserChanges {
    fn from(u: UserUpdate) -> Self {
        UserChanges {
            username: u.username,
            email: u.email,
            password: u.password,
            full_name: u.full_name,
            is_active: u.is_active,
            is_superuser: u.is_superuser,
            role: u.role.map(|r| r.as_str().into()),
        }
    }
}

impl From<UserUpdateMe> for UserChanges {
    fn from(u: UserUpdateMe) -> Self {
        UserChanges {
            username: u.username,
            email: u.email,
            full_name: u.full_name,
            ..Default::default()
        }
    }
}

impl Token {
    pub fn from_pair(p: vcore_domain::sessions::TokenPair) -> Self {
        Token {
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            token_type: "bearer".into(),
            expires_in: p.access_expires_in,
            recovery_codes: None,
        }
    }
}

impl SiteInfo {
    pub fn from_config(c: &vcore_domain::Config) -> Self {
        SiteInfo {
            project_name: c.project_name.clone(),
            open_registration: c.users_open_registration,
            accent: c.accent.clone(),
            password_recovery: c.smtp.is_some(),
        }
    }
}

impl From<vcore_domain::cluster::Node> for NodePublic {
    fn from(n: vcore_domain::cluster::Node) -> Self {
        NodePublic {
            started_at: rfc3339(&n.started_at),
            heartbeat_at: rfc3339(&n.heartbeat_at),
            queues: n
                .queues
                .into_iter()
                .map(|q| NodeQueuePublic {
                    name: q.name,
                    concurrency: q.concurrency,
                })
                .collect(),
            id: n.id,
            kind: n.kind,
            host: n.host,
            pid: n.pid,
            version: n.version,
            leader: n.leader,
        }
    }
}

impl From<&vcore_domain::jobs::Job> for JobPublic {
    fn from(j: &vcore_domain::jobs::Job) -> Self {
        JobPublic {
            id: j.id,
            name: j.name.clone(),
            kind: j.kind.as_str().into(),
            command: j.command.clone(),
            meta: j.meta.clone(),
            queue_name: j.queue.clone(),
            priority: j.priority.as_str().into(),
            status: j.status.as_str().into(),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            timeout_secs: j.timeout_secs,
            run_at: rfc3339(&j.run_at),
            unique_key: j.unique_key.clone(),
            owner_id: j.owner_id,
            scheduler_id: j.scheduler_id,
            created_at: rfc3339(&j.created_at),
            started_at: j.started_at.as_ref().map(rfc3339),
            finished_at: j.finished_at.as_ref().map(rfc3339),
            // From the times as sent (whole milliseconds), so that the three agree.
            duration_ms: match (j.started_at, j.finished_at) {
                (Some(s), Some(f)) => {
                    Some((f.and_utc().timestamp_millis() - s.and_utc().timestamp_millis()).max(0))
                }
                _ => None,
            },
            exit_code: j.exit_code,
            result: j.result.clone(),
            error: j.error.clone(),
        }
    }
}

impl From<vcore_domain::jobs::Job> for JobPublic {
    fn from(j: vcore_domain::jobs::Job) -> Self {
        JobPublic::from(&j)
    }
}

impl JobCreate {
    /// The domain's raw input; `run_at` is parsed here because it is a wire format.
    pub fn into_input(self) -> Result<vcore_domain::jobs::JobInput, DomainError> {
        let run_at = self
            .run_at
            .as_deref()
            .map(|r| vcore_domain::jobs::service::parse_time("run_at", r))
            .transpose()?;
        Ok(vcore_domain::jobs::JobInput {
            name: self.name,
            kind: self.kind,
            command: self.command,
            meta: self.meta,
            queue_name: self.queue_name,
            priority: self.priority,
            max_attempts: self.max_attempts,
            timeout_secs: self.timeout_secs,
            run_at,
            unique_key: self.unique_key,
        })
    }
}

impl From<JobUpdate> for vcore_domain::jobs::service::JobEdit {
    fn from(u: JobUpdate) -> Self {
        vcore_domain::jobs::service::JobEdit {
            name: u.name,
            priority: u.priority,
            queue_name: u.queue_name,
            meta: u.meta,
            max_attempts: u.max_attempts,
            timeout_secs: u.timeout_secs,
            run_at: u.run_at,
        }
    }
}

impl From<vcore_domain::jobs::service::LogSlice> for JobLog {
    fn from(l: vcore_domain::jobs::service::LogSlice) -> Self {
        JobLog {
            content: l.content,
            offset: l.offset,
            next_offset: l.next_offset,
            finished: l.finished,
        }
    }
}

impl From<vcore_domain::jobs::service::BulkOutcome> for BulkResult {
    fn from(o: vcore_domain::jobs::service::BulkOutcome) -> Self {
        BulkResult {
            done: o.done,
            skipped: o
                .skipped
                .into_iter()
                .map(|(id, reason)| BulkSkipped { id, reason })
                .collect(),
        }
    }
}

impl From<vcore_domain::jobs::schedulers::Scheduler> for SchedulerPublic {
    fn from(s: vcore_domain::jobs::schedulers::Scheduler) -> Self {
        SchedulerPublic {
            job_template: serde_json::from_str(&s.job_template).unwrap_or(serde_json::Value::Null),
            id: s.id,
            name: s.name,
            description: s.description,
            trigger_type: s.trigger_type,
            repeat_every_seconds: s.repeat_every_seconds,
            cron: s.cron,
            timezone: s.timezone,
            enabled: s.enabled,
            owner_id: s.owner_id,
            next_run_at: s.next_run_at.as_ref().map(rfc3339),
            last_run_at: s.last_run_at.as_ref().map(rfc3339),
            last_job_id: s.last_job_id,
            run_count: s.run_count,
            created_at: rfc3339(&s.created_at),
            updated_at: rfc3339(&s.updated_at),
        }
    }
}

impl From<SchedulerCreate> for vcore_domain::jobs::scheduler_service::SchedulerInput {
    fn from(c: SchedulerCreate) -> Self {
        vcore_domain::jobs::scheduler_service::SchedulerInput {
            name: c.name,
            description: c.description,
            trigger_type: c.trigger_type,
            repeat_every_seconds: c.repeat_every_seconds,
            cron: c.cron,
            timezone: c.timezone,
            job_template: c.job_template,
            enabled: c.enabled,
        }
    }
}

impl SchedulerUpdate {
    /// Applies the given fields to a scheduler's current definition.
    pub fn apply(self, to: &mut vcore_domain::jobs::scheduler_service::SchedulerInput) {
        if let Some(v) = self.name {
            to.name = v;
        }
        if let Some(v) = self.description {
            to.description = Some(v);
        }
        if let Some(v) = self.trigger_type {
            to.trigger_type = v;
        }
        if let Some(v) = self.repeat_every_seconds {
            to.repeat_every_seconds = Some(v);
        }
        if let Some(v) = self.cron {
            to.cron = Some(v);
        }
        if let Some(v) = self.timezone {
            to.timezone = Some(v);
        }
        if let Some(v) = self.job_template {
            to.job_template = v;
        }
        if let Some(v) = self.enabled {
            to.enabled = v;
        }
    }
}

impl From<&vcore_domain::jobs::scripts::ScriptInfo> for ScriptPublic {
    fn from(s: &vcore_domain::jobs::scripts::ScriptInfo) -> Self {
        let schema = &s.input_schema;
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let mut fields = Vec::new();
        let mut example = serde_json::Map::new();
        if let Some(props) = schema["properties"].as_object() {
            for (name, p) in props {
                let kind = match &p["type"] {
                    serde_json::Value::String(t) => t.clone(),
                    serde_json::Value::Array(ts) => {
                        ts.iter().filter_map(|t| t.as_str()).collect::<Vec<_>>().join("|")
                    }
                    _ if p.get("$ref").is_some() => "object".into(),
                    _ => "any".into(),
                };
                let is_required = required.contains(&name.as_str());
                if is_required {
                    let placeholder = match kind.split('|').next().unwrap_or_default() {
                        "string" => serde_json::json!(""),
                        "number" | "integer" => serde_json::json!(0),
                        "boolean" => serde_json::json!(false),
                        "array" => serde_json::json!([]),
                        _ => serde_json::json!({}),
                    };
                    example.insert(name.clone(), placeholder);
                }
                fields.push(ScriptField {
                    name: name.clone(),
                    kind,
                    required: is_required,
                    description: p["description"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
        ScriptPublic {
            name: s.name.into(),
            description: s.description.into(),
            superuser_only: s.superuser_only,
            input_schema: s.input_schema.clone(),
            fields,
            example: serde_json::Value::Object(example).to_string(),
        }
    }
}

/// Every registered script, by name.
pub fn scripts_page(svc: &vcore_domain::Services) -> ScriptsPage {
    let data: Vec<ScriptPublic> = svc
        .extensions
        .scripts
        .list()
        .into_iter()
        .map(Into::into)
        .collect();
    ScriptsPage {
        count: data.len() as i64,
        data,
    }
}

impl From<&vcore_domain::api_keys::ApiKey> for ApiKeyPublic {
    fn from(k: &vcore_domain::api_keys::ApiKey) -> Self {
        ApiKeyPublic {
            id: k.id,
            user_id: k.user_id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: k
                .scopes
                .iter()
                .filter_map(|s| ApiScope::from_name(s.as_str()))
                .collect(),
            created_at: rfc3339(&k.created_at),
            expires_at: k.expires_at.as_ref().map(rfc3339),
            last_used_at: k.last_used_at.as_ref().map(rfc3339),
            last_used_ip: k.last_used_ip.clone(),
            revoked_at: k.revoked_at.as_ref().map(rfc3339),
        }
    }
}

impl From<ApiKeyCreate> for vcore_domain::api_keys::NewApiKey {
    fn from(c: ApiKeyCreate) -> Self {
        vcore_domain::api_keys::NewApiKey {
            name: c.name,
            scopes: c.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            expires_in_days: c.expires_in_days,
            user_id: c.user_id,
        }
    }
}

/// A page of keys as clients see it.
pub fn api_keys_page(keys: &[vcore_domain::api_keys::ApiKey]) -> ApiKeysPage {
    ApiKeysPage {
        data: keys.iter().map(ApiKeyPublic::from).collect(),
        count: keys.len() as i64,
    }
}

impl From<vcore_domain::audit::AuditEntry> for AuditEntryPublic {
    fn from(e: vcore_domain::audit::AuditEntry) -> Self {
        AuditEntryPublic {
            id: e.id,
            at: rfc3339(&e.at),
            actor_id: e.actor_id,
            actor_key_id: e.actor_key_id,
            actor_name: e.actor_name,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            outcome: e.outcome,
            ip: e.ip,
            user_agent: e.user_agent,
            request_id: e.request_id,
            detail: e.detail.and_then(|d| serde_json::from_str(&d).ok()),
        }
    }
}

impl From<AuditQuery> for vcore_domain::audit::AuditFilter {
    fn from(q: AuditQuery) -> Self {
        vcore_domain::audit::AuditFilter {
            actor: q.actor,
            action: q.action,
            target_type: q.target_type,
            target_id: q.target_id,
            outcome: q.outcome,
            since: q.since,
            until: q.until,
        }
    }
}

impl From<vcore_domain::mfa::MfaStatus> for MfaStatusPublic {
    fn from(s: vcore_domain::mfa::MfaStatus) -> Self {
        MfaStatusPublic {
            enabled: s.enabled,
            recovery_codes_left: s.recovery_codes_left as i64,
            required: s.required,
        }
    }
}

impl From<vcore_domain::mfa::MfaSetup> for MfaSetupPublic {
    fn from(s: vcore_domain::mfa::MfaSetup) -> Self {
        MfaSetupPublic {
            secret: s.secret,
            otpauth_uri: s.otpauth_uri,
            qr_svg: s.qr_svg,
        }
    }
}

#[cfg(test)]
mod mfa_messages {
    #[test]
    fn the_sign_in_messages_are_the_domains() {
        use vcore_domain::mfa;
        assert_eq!(crate::types::MFA_REQUIRED, mfa::MFA_REQUIRED);
        assert_eq!(crate::types::MFA_INVALID, mfa::MFA_INVALID);
        assert_eq!(crate::types::MFA_ENROL, mfa::MFA_ENROL);
    }
}
