//! Diesel table definitions, written once for both backends: every column uses a type that
//! SQLite and PostgreSQL both map (BigInt ids, Timestamp as naive UTC, Text, Bool).
//! The migrations under `migrations/sqlite` and `migrations/postgres` must produce these
//! columns; the REST integration tests read and write every column on both backends.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        email -> Text,
        full_name -> Nullable<Text>,
        hashed_password -> Text,
        is_active -> Bool,
        is_superuser -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        /// superuser, operator, user or viewer (`access::Role`); `is_superuser` mirrors it.
        role -> Text,
    }
}

diesel::table! {
    /// API keys (`api_keys`): the visible prefix, the SHA-256 of the whole key, its scopes.
    api_keys (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        prefix -> Text,
        key_hash -> Text,
        scopes -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        last_used_ip -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(api_keys -> users (user_id));

diesel::table! {
    user_mfa (user_id) {
        user_id -> BigInt,
        secret -> Text,
        enabled -> Bool,
        last_step -> BigInt,
        recovery -> Text,
        created_at -> Timestamp,
        enabled_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(user_mfa -> users (user_id));

diesel::table! {
    /// One signed-in device: a refresh-token family. Revoking it ends that session's
    /// refresh tokens and access tokens alike (access tokens carry its id).
    sessions (id) {
        id -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (jti) {
        jti -> Text,
        session_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));

diesel::table! {
    /// The job queue: one row per job, from enqueue to its end (see `jobs::JobStatus`).
    jobs (id) {
        id -> BigInt,
        name -> Text,
        kind -> Text,
        command -> Text,
        meta -> Text,
        queue -> Text,
        priority -> SmallInt,
        status -> Text,
        attempts -> Integer,
        max_attempts -> Integer,
        timeout_secs -> Nullable<Integer>,
        run_at -> Timestamp,
        unique_key -> Nullable<Text>,
        owner_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        exit_code -> Nullable<Integer>,
        result -> Nullable<Text>,
        error -> Nullable<Text>,
        log_path -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        fence -> BigInt,
        scheduler_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    job_schedulers (id) {
        id -> BigInt,
        name -> Text,
        description -> Nullable<Text>,
        trigger_type -> Text,
        repeat_every_seconds -> Nullable<BigInt>,
        cron -> Nullable<Text>,
        timezone -> Text,
        job_template -> Text,
        enabled -> Bool,
        owner_id -> Nullable<BigInt>,
        next_run_at -> Nullable<Timestamp>,
        last_run_at -> Nullable<Timestamp>,
        last_job_id -> Nullable<BigInt>,
        run_count -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(jobs -> users (owner_id));

diesel::joinable!(job_logs -> jobs (job_id));

diesel::joinable!(job_schedulers -> users (owner_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    api_keys,
    user_mfa,
    sessions,
    refresh_tokens,
    jobs,
    job_schedulers,
    nodes,
    leases,
    paused_queues,
    job_logs
);

diesel::table! {
    nodes (id) {
        id -> Text,
        kind -> Text,
        host -> Text,
        pid -> BigInt,
        version -> Text,
        queues -> Text,
        started_at -> Timestamp,
        heartbeat_at -> Timestamp,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    job_logs (job_id, start) {
        job_id -> BigInt,
        start -> BigInt,
        data -> Text,
    }
}

diesel::table! {
    paused_queues (queue) {
        queue -> Text,
        paused_at -> Timestamp,
    }
}

diesel::table! {
    /// The audit log (`audit`): append-only.
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_id -> Nullable<BigInt>,
        actor_key_id -> Nullable<BigInt>,
        actor_name -> Nullable<Text>,
        action -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Text>,
        outcome -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        request_id -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}
