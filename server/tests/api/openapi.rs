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

/// What a generated client relies on, stated in the document as the server behaves: errors'
/// `detail` is a string or (422) a list of `{loc, msg, type}`; paging bounds are declared
/// (the server refuses what lies outside them); every operation may answer 429.
#[tokio::test]
async fn the_document_declares_errors_bounds_and_rate_limits() {
    let app = spawn_app(Backend::Sqlite, Opts::default()).await;
    let doc = assert_status(app.get("/openapi.json", None).await, 200).await;
    let detail = &doc["components"]["schemas"]["ErrorBody"]["properties"]["detail"]["oneOf"];
    assert_eq!(detail[0]["type"], "string", "{detail}");
    assert_eq!(detail[1]["type"], "array", "{detail}");
    assert_eq!(
        detail[1]["items"]["required"],
        serde_json::json!(["loc", "msg", "type"])
    );
    let mut paged = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["responses"]["429"].is_object(),
                "{method} {path} does not declare 429"
            );
            for p in op["parameters"].as_array().into_iter().flatten() {
                let schema = &p["schema"];
                match p["name"].as_str() {
                    Some("limit") => {
                        paged += 1;
                        assert_eq!(
                            (schema["minimum"].as_i64(), schema["maximum"].as_i64()),
                            (Some(1), Some(1000)),
                            "{method} {path}"
                        );
                    }
                    Some("offset") if p["in"] == "query" && !path.ends_with("/log") => {
                        assert_eq!(schema["minimum"].as_i64(), Some(0), "{method} {path}");
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(paged >= 4, "{paged} paged endpoints");
    // And the server holds to the bounds it declares.
    let admin = app.admin_token().await;
    for q in ["limit=0", "limit=1001", "offset=-1"] {
        assert_status(app.get(&format!("/users/?{q}"), Some(&admin)).await, 422).await;
        assert_status(app.get(&format!("/jobs/?{q}"), Some(&admin)).await, 422).await;
        assert_status(app.get(&format!("/audit-log/?{q}"), Some(&admin)).await, 422).await;
    }
}
