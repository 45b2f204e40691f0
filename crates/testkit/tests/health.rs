//! The probes as an orchestrator sees them: `/livez` answers as soon as the process serves;
//! `/readyz` also needs the store and, when event delivery is on, its loops running.

use switchboard_server::config::Config;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_event_delivery_and_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        admin_token: "health-admin-token-0123456789".into(),
        ..Config::default()
    };
    let store = switchboard_server::open_store(&config).await.unwrap();
    let core = switchboard_server::core(store);
    let token = switchboard_core::model::Secret::new(config.admin_token.clone());
    let (app, events) = switchboard_server::build(core, token, &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let http_cfg = config.http.clone();
    let server = tokio::spawn(async move {
        switchboard_server::serve(listener, app, &http_cfg, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let get = |path: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let r = http.get(format!("{base}{path}")).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };

    // Serving, but the deliverer has not started: alive, not ready.
    assert_eq!(get("/livez").await.0, 200);
    let (status, body) = get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");

    let (stop_events, events_stopped) = tokio::sync::watch::channel(false);
    let deliverer = events.start(events_stopped);
    let mut ready = (0, serde_json::Value::Null);
    for _ in 0..100 {
        ready = get("/readyz").await;
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(ready.0, 200, "{}", ready.1);
    assert_eq!(ready.1["status"], "ready");

    // Delivery stopped (as at shutdown): not ready any more, still alive.
    stop_events.send(true).unwrap();
    deliverer.await.unwrap();
    assert_eq!(get("/readyz").await.0, 503);
    assert_eq!(get("/livez").await.0, 200);
    let _ = stop.send(());
    server.await.unwrap();
}
