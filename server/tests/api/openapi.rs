//! The committed `openapi.json` (repository root) is the API's published contract: this
//! test fails when the code serves anything else, so a change to the API is always a
//! visible change to that file in review. Backend-independent: SQLite only.
//!
//! After an intended API change: `UPDATE_OPENAPI=1 cargo test -p vcore-server --test api openapi`.

use std::path::PathBuf;

use serde_json::Value;

use crate::helpers::*;

const UPDATE_HINT: &str =
    "run `UPDATE_OPENAPI=1 cargo test -p vcore-server --test api openapi` and commit openapi.json";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("openapi.json")
}

/// The first JSON pointer where `a` and `b` differ, to make the failure readable.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|k| {
                let here = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => first_difference(v, w, &here),
                    (Some(_), None) => Some(format!("{here}: only in the committed file")),
                    (None, Some(_)) => Some(format!("{here}: only in what the code serves")),
                    (None, None) => None,
                }
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{at}: {} items committed, {} served", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (v, w))| first_difference(v, w, &format!("{at}/{i}")))
        }
        _ if a == b => None,
        _ => Some(format!("{at}: committed {a}, served {b}")),
    }
}

#[tokio::test]
async fn openapi_json_matches_the_committed_file() {
    let app = spawn_app(Backend::Sqlite, Opts::default()).await;
    let served = assert_status(app.get("/openapi.json", None).await, 200).await;
    let path = committed_path();

    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        let text = serde_json::to_string_pretty(&served).expect("serialising the document") + "\n";
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        eprintln!("updated {}", path.display());
        return;
    }

    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} ({e}): {UPDATE_HINT}", path.display()));
    let committed: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON ({e}): {UPDATE_HINT}", path.display()));
    if committed != served {
        let at = first_difference(&committed, &served, "").unwrap_or_else(|| "(somewhere)".into());
        panic!("the OpenAPI document served by the code differs from openapi.json, first at {at}.\n{UPDATE_HINT}");
    }
}
