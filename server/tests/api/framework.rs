//! vcore as a framework: an application built with `vcore_server::App` (here a small one
//! defined in this file, with the `prelude` only) gets its migrations applied after vcore's,
//! its REST resource served and documented, its typed script checked and run, and its
//! scheduler created once, on both backends. The UI parts (pages, navigation, tools) are
//! tested by the example application (`examples/notes`), whose own test binary can install
//! them: this binary serves vcore's own UI to the other tests.

use serde_json::{json, Value};
use vcore_server::prelude::*;
use vcore_server::prelude::{diesel_async, utoipa_axum};

use crate::helpers::*;
use crate::jobs_api::wait_for_status;

both_backends!(
    an_application_adds_tables_resources_scripts_and_schedulers,
    the_application_s_schedulers_are_created_once,
);

const SQLITE: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("tests/api/framework/sqlite");
const POSTGRES: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("tests/api/framework/postgres");
const CLASH: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("tests/api/framework/clash");

const MIGRATIONS: AppMigrations = AppMigrations {
    app: "widgets",
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

mod schema {
    // Diesel's macros name `diesel::…` from modules they generate: an application depends
    // on `diesel` itself, at vcore's version.
    diesel::table! {
        widgets (id) {
            id -> BigInt,
            name -> Text,
            owner_id -> BigInt,
        }
    }
}

/// `count_widgets`: how many widgets have a name at least `min_len` long.
struct CountWidgets;

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CountInput {
    /// Shortest name counted (0 to 100).
    #[serde(default)]
    min_len: i64,
}

#[derive(serde::Serialize)]
struct Counted {
    count: i64,
}

impl Script for CountWidgets {
    const NAME: &'static str = "count_widgets";
    const DESCRIPTION: &'static str = "Counts the widgets";
    type Input = CountInput;
    type Output = Counted;

    fn check(&self, input: &CountInput) -> Result<(), InputError> {
        match (0..=100).contains(&input.min_len) {
            true => Ok(()),
            false => Err(InputError::new("min_len", "expected 0 to 100")),
        }
    }

    async fn run(&self, ctx: &ScriptCtx, input: CountInput) -> anyhow::Result<Counted> {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use schema::widgets::dsl as w;
        let names: Vec<String> = with_conn!(ctx.db, |conn| w::widgets.select(w::name).load(conn).await?);
        let count = names.iter().filter(|n| n.len() as i64 >= input.min_len).count() as i64;
        Ok(Counted { count })
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
struct WidgetIn {
    name: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct WidgetOut {
    id: i64,
    name: String,
}

/// Stores a widget of the caller's.
#[utoipa::path(post, path = "/widgets/", tag = "widgets", security(("bearer" = [])),
    request_body = WidgetIn,
    responses((status = 201, body = WidgetOut), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_widget(
    axum::extract::State(svc): axum::extract::State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(input): ValidJson<WidgetIn>,
) -> ApiResult<(axum::http::StatusCode, axum::Json<WidgetOut>)> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use schema::widgets::dsl as w;
    let name = input.name.trim().to_string();
    if name.is_empty() {
        return Err(RestError::invalid("body", "name", "must not be empty"));
    }
    let insert = async {
        Ok::<i64, DomainError>(with_conn!(svc.db, |conn| {
            diesel::insert_into(w::widgets)
                .values((w::name.eq(&name), w::owner_id.eq(me.id)))
                .returning(w::id)
                .get_result(conn)
                .await?
        }))
    };
    let id = insert.await?;
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(WidgetOut { id, name }),
    ))
}

fn widgets_api() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(create_widget))
}

fn census() -> SchedulerInput {
    SchedulerInput {
        name: "widget census".into(),
        description: Some("Counts the widgets every hour".into()),
        trigger_type: "repeat".into(),
        repeat_every_seconds: Some(3600),
        cron: None,
        timezone: None,
        job_template: json!({ "name": "census", "type": "script", "command": "count_widgets" }),
        enabled: true,
    }
}

fn widgets_app() -> App {
    App::new("widgets")
        .migrations(MIGRATIONS)
        .script(CountWidgets)
        .scheduler(census())
        .api(widgets_api())
}

fn opts() -> Opts {
    Opts {
        app: Some(widgets_app()),
        ..Opts::default()
    }
}

async fn an_application_adds_tables_resources_scripts_and_schedulers(b: Backend) {
    let app = spawn_app(b, opts()).await;
    let admin = app.admin_token().await;
    let alice = app.create_and_login("alice").await;

    // Its table exists (its migration ran after vcore's: the foreign key to users holds) and
    // its resource answers, with vcore's authentication and 422s.
    assert_unauthorized(app.post("/widgets/", None, &json!({ "name": "x" })).await).await;
    assert_422(
        app.post("/widgets/", Some(alice.access()), &json!({ "name": " " }))
            .await,
        &["body", "name"],
    )
    .await;
    assert_422(
        app.post("/widgets/", Some(alice.access()), &json!({})).await,
        &["body", "name"],
    )
    .await;
    for name in ["gear", "sprocket"] {
        let w = assert_status(
            app.post("/widgets/", Some(alice.access()), &json!({ "name": name }))
                .await,
            201,
        )
        .await;
        assert_eq!(w["name"], name);
    }
    let ready = assert_status(app.client.get(app.url("/readyz")).send().await.unwrap(), 200).await;
    assert_eq!(
        ready["migrations"], "ok",
        "the application's migrations count: {ready}"
    );

    // It is in the OpenAPI document, beside vcore's.
    let doc = assert_status(app.get("/openapi.json", None).await, 200).await;
    assert!(
        doc["paths"]["/api/v1/widgets/"]["post"].is_object(),
        "{}",
        doc["paths"]
    );
    assert!(doc["paths"]["/api/v1/jobs/"].is_object());
    assert!(doc["components"]["schemas"]["WidgetIn"].is_object());

    // Its script is listed with its input's shape, beside the built-in ones.
    assert_unauthorized(app.get("/scripts/", None).await).await;
    let scripts = assert_status(app.get("/scripts/", Some(alice.access())).await, 200).await;
    let names: Vec<&str> = scripts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"count_widgets") && names.contains(&"sleep"),
        "{names:?}"
    );
    let count = scripts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "count_widgets")
        .unwrap();
    assert_eq!(count["superuser_only"], false);
    assert_eq!(count["fields"][0]["name"], "min_len", "{count}");
    assert_eq!(count["fields"][0]["kind"], "integer", "{count}");
    assert_eq!(count["fields"][0]["required"], false, "{count}");
    assert_eq!(count["input_schema"]["type"], "object", "{count}");

    // A job's input is checked by the script's types and its own check, naming the field.
    let job =
        |meta: Value| json!({ "name": "count", "type": "script", "command": "count_widgets", "meta": meta });
    assert_422(
        app.post("/jobs/", Some(alice.access()), &job(json!({ "min_len": "long" })))
            .await,
        &["body", "meta", "min_len"],
    )
    .await;
    assert_422(
        app.post("/jobs/", Some(alice.access()), &job(json!({ "min_len": 101 })))
            .await,
        &["body", "meta", "min_len"],
    )
    .await;
    assert_422(
        app.post("/jobs/", Some(alice.access()), &job(json!({ "colour": "red" })))
            .await,
        &["body", "meta", "colour"],
    )
    .await;
    // And it runs, with the output as the result.
    let created = assert_status(
        app.post("/jobs/", Some(alice.access()), &job(json!({ "min_len": 5 })))
            .await,
        201,
    )
    .await;
    let done = wait_for_status(&app, alice.access(), id_of(&created), "done").await;
    let result: Value = serde_json::from_str(done["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        result,
        json!({ "count": 1 }),
        "only sprocket is 5 or longer: {done}"
    );

    // Its scheduler exists, without an owner, as a superuser sees it.
    let page = assert_status(app.get("/job-schedulers/", Some(&admin)).await, 200).await;
    let census: Vec<&Value> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "widget census")
        .collect();
    assert_eq!(census.len(), 1, "{page}");
    assert!(census[0]["owner_id"].is_null(), "{page}");
    assert_eq!(census[0]["enabled"], true);
    // A regular user does not see it.
    let mine = assert_status(app.get("/job-schedulers/", Some(alice.access())).await, 200).await;
    assert_eq!(mine["count"], 0, "{mine}");

    // vcore alone does not know the application's parts.
    let doc = vcore_server::http::openapi_document("/api/v1");
    assert!(!doc.paths.paths.contains_key("/api/v1/widgets/"));
}

async fn the_application_s_schedulers_are_created_once(b: Backend) {
    let app = spawn_app(b, opts()).await;
    let config = (*app.services.config).clone();
    // Starting again on the same database (a restart, a second node) adds nothing.
    let again = vcore_domain::Services::start(config.clone(), widgets_app().extensions().clone())
        .await
        .expect("a second start");
    assert!(
        again.applied_migrations.is_empty(),
        "{:?}",
        again.applied_migrations
    );
    assert_eq!(again.services.ensure_app_schedulers().await.unwrap(), 0);
    let admin = app.admin_token().await;
    let page = assert_status(app.get("/job-schedulers/", Some(&admin)).await, 200).await;
    let n = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "widget census")
        .count();
    assert_eq!(n, 1, "{page}");

    // Deleted, it comes back at the next start.
    let id = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "widget census")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_status(
        app.delete(&format!("/job-schedulers/{id}"), Some(&admin)).await,
        200,
    )
    .await;
    assert_eq!(again.services.ensure_app_schedulers().await.unwrap(), 1);

    // An application migration with one of vcore's versions is refused before anything runs.
    let clash = AppMigrations {
        app: "clash",
        sqlite: &CLASH,
        postgres: &CLASH,
    };
    let err = vcore_domain::db::Db::migrate(&config.db_url, &[clash])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("20261124000001 of clash is also one of vcore's"),
        "{err}"
    );
}
