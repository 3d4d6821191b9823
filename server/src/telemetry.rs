//! Logging: tracing to stderr, human-readable by default or JSON (`LOG_FORMAT=json`).
//! `RUST_LOG` overrides `LOG_LEVEL` for fine-grained filters.

use tracing_subscriber::{fmt, EnvFilter};
use vcore_domain::config::LogFormat;

pub fn init(level: &str, format: LogFormat) {
    let level = if level == "warning" { "warn" } else { level };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},tower_http=info,hyper=warn")));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests spawn many apps in one process) is harmless: ignore it.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder.try_init(),
    };
}
