//! Server functions: the browser's calls into the server, one file per area. Each one is a
//! thin adapter (extract the caller, call a `vcore_domain` service, map the result) and
//! returns `Result<_, AppError>`. Rules about who may do what live in the domain, not here.
//!
//! With `ssr` the bodies run in the server; with `hydrate`/`csr` each function becomes an
//! HTTP call to the same origin.

pub mod audit;
#[cfg(feature = "ssr")]
pub mod ctx;
pub mod dashboard;
pub mod jobs;
pub mod keys;
pub mod mfa;
pub mod profile;
pub mod schedulers;
pub mod session;
pub mod users;

pub use audit::*;
pub use dashboard::*;
pub use jobs::*;
pub use keys::*;
pub use mfa::*;
pub use profile::*;
pub use schedulers::*;
pub use session::*;
pub use users::*;
