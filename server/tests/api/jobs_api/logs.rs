//! A job's log: the tail from a line start, the whole log as a download, and a log file
//! from before output was kept in the database.

use super::*;

both_backends!(
    the_log_tail_starts_at_a_line_and_the_download_is_the_whole_log,
    a_log_file_from_before_the_database_kept_output_is_still_read,
);

async fn the_log_tail_starts_at_a_line_and_the_download_is_the_whole_log(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let bob = app.create_and_login("bob").await;
    // 1..30000, one per line: 168,894 bytes, more than one 64 KiB read.
    let job = create(
        &app,
        &admin,
        json!({ "name": "counting", "type": "command", "command": "seq 1 30000" }),
    )
    .await;
    let id = id_of(&job);
    wait_for_status(&app, &admin, id, "done").await;
    let whole: String = (1..=30000).map(|n| format!("{n}\n")).collect();

    // The tail: the last 64 KiB at most, from the start of a line, ending at the end.
    let tail = assert_status(
        app.get(&format!("/jobs/{id}/log?tail=true"), Some(&admin)).await,
        200,
    )
    .await;
    let content = tail["content"].as_str().unwrap();
    let offset = tail["offset"].as_u64().unwrap() as usize;
    assert!(offset > 0 && content.len() <= 64 * 1024, "{}", content.len());
    assert_eq!(tail["next_offset"].as_u64().unwrap() as usize, whole.len());
    assert_eq!(&whole[offset..], content, "the tail is the end of the log");
    assert!(whole[..offset].ends_with('\n'), "the tail starts at a line");
    assert!(content.ends_with("30000\n"));
    assert_eq!(tail["finished"], true);
    // With an offset too: the tail, but nothing before the offset.
    let early = assert_status(
        app.get(&format!("/jobs/{id}/log?tail=true&offset=0"), Some(&admin))
            .await,
        200,
    )
    .await;
    assert_eq!(early, tail, "an offset before the tail changes nothing");
    let late = whole.len() - 6;
    let end = assert_status(
        app.get(&format!("/jobs/{id}/log?tail=true&offset={late}"), Some(&admin))
            .await,
        200,
    )
    .await;
    assert_eq!(end["offset"].as_u64(), Some(late as u64), "{end}");
    assert_eq!(end["content"], "30000\n");

    // The download: all of it, as a text file, for the bearer or the session cookie.
    let path = format!("/jobs/{id}/log/download");
    let r = app.get(&path, Some(&admin)).await;
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        h["content-disposition"],
        format!("attachment; filename=\"job-{id}.log\"").as_str()
    );
    assert_eq!(r.text().await.unwrap(), whole);
    let cookie = crate::server_fns::sign_in(&app, ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let r = app
        .client
        .get(app.api(&path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap().len(), whole.len());
    // Nobody else's, and not without signing in.
    assert_status(app.get(&path, Some(bob.access())).await, 403).await;
    assert_status(app.get(&path, None).await, 401).await;
    assert_status(app.get("/jobs/987654321/log/download", Some(&admin)).await, 404).await;
    assert_status(app.get("/jobs/nope/log/download", Some(&admin)).await, 422).await;

    // A job that has written nothing: an empty file, and an empty tail.
    let quiet = id_of(&create(&app, bob.access(), delayed("quiet")).await);
    let r = app
        .get(&format!("/jobs/{quiet}/log/download"), Some(bob.access()))
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    let tail = assert_status(
        app.get(&format!("/jobs/{quiet}/log?tail=true"), Some(bob.access()))
            .await,
        200,
    )
    .await;
    assert_eq!(
        (tail["content"].as_str(), tail["offset"].as_u64()),
        (Some(""), Some(0))
    );
}

/// Output written to a log file (SQLite's place for it, and PostgreSQL's before output went
/// to the database) is read, tailed and downloaded from the file when the database has none.
async fn a_log_file_from_before_the_database_kept_output_is_still_read(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let job = create(
        &app,
        &admin,
        json!({ "name": "old", "type": "command", "command": "echo new", "run_at": in_an_hour() }),
    )
    .await;
    let id = id_of(&job);
    let path = app.services.job_log_path(id);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "first line\nsecond line\n").unwrap();
    let log = read_log(&app, &admin, id, None).await;
    assert_eq!(log["content"], "first line\nsecond line\n", "{log}");
    let from = read_log(&app, &admin, id, Some(11)).await;
    assert_eq!(from["content"], "second line\n", "{from}");
    let tail = assert_status(
        app.get(&format!("/jobs/{id}/log?tail=true"), Some(&admin)).await,
        200,
    )
    .await;
    assert_eq!(tail["content"], "first line\nsecond line\n", "{tail}");
    let download = app
        .get(&format!("/jobs/{id}/log/download"), Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(download, "first line\nsecond line\n");
}
